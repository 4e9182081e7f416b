//! TYPE (RFC 959 4.1.2; MODE and STRU are answered in `dispatch`: only S and F exist here).
//!
//! Wire format: `TYPE A` / `TYPE A N` → 200 ASCII; `TYPE I` / `TYPE L 8` → 200
//! binary; `TYPE E`, `TYPE A T`, `TYPE L 16`… → 504 (parsed in oxftp-proto).

use oxftp_proto::command::TransferType;

use crate::session::Session;

impl Session {
    pub(crate) async fn cmd_type(&mut self, t: TransferType) {
        self.transfer_type = t;
        let text = match t {
            TransferType::Ascii => "Switching to ASCII mode.",
            TransferType::Image => "Switching to Binary mode.",
        };
        self.reply(200, text).await;
    }
}
