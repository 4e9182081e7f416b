//! Data channel set-up: PASV (RFC 959), EPSV and EPRT (RFC 2428), PORT (RFC 959).
//!
//! Wire format: `PASV` → 227 Entering Passive Mode (h1,h2,h3,h4,p1,p2) ·
//! `EPSV [1|2|ALL]` → 229 Entering Extended Passive Mode (|||port|), or 200 for
//! ALL (after which PORT, EPRT and PASV get 503) · `PORT h1,…,p2` / `EPRT
//! |proto|addr|port|` → 200.
//!
//! Security: PASV listens on the address the client reached us on; the
//! connection must come from the control peer (checked at accept). PORT/EPRT
//! must name the control peer's own address and a port >= 1024, so the server
//! cannot be used to reach third hosts or privileged ports (FTP bounce,
//! CERT CA-1997-27). On an IPv6 control connection PASV and PORT cannot express
//! the address; clients must use EPSV/EPRT.

use std::net::{IpAddr, SocketAddr, SocketAddrV4};

use oxftp_proto::addr::{epsv_reply, pasv_reply};
use oxftp_proto::command::EpsvArg;

use crate::data::{DataSetup, bind_passive, same_host};
use crate::session::Session;

impl Session {
    /// The address passive listeners bind to: where the client reached us.
    fn passive_bind_ip(&self) -> IpAddr {
        self.local.ip().to_canonical()
    }

    async fn open_passive(&mut self) -> Option<u16> {
        self.data = None; // frees any earlier listener's port first
        match bind_passive(self.passive_bind_ip(), self.shared.options.passive_ports).await {
            Ok(listener) => {
                let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
                self.data = Some(DataSetup::Passive(listener));
                Some(port)
            }
            Err(e) => {
                slog::warn!(self.logger, "passive listen failed"; "error" => %e);
                self.reply(425, format!("Cannot open passive connection: {e}")).await;
                None
            }
        }
    }

    pub(crate) async fn cmd_pasv(&mut self) {
        if self.epsv_all {
            return self.reply(503, "EPSV ALL in effect: use EPSV.").await;
        }
        let advertised = match self.shared.options.passive_address.unwrap_or(self.passive_bind_ip()) {
            IpAddr::V4(ip) => ip,
            IpAddr::V6(_) => {
                return self.reply(425, "PASV cannot describe an IPv6 address; use EPSV.").await;
            }
        };
        if let Some(port) = self.open_passive().await {
            let reply = pasv_reply(SocketAddrV4::new(advertised, port));
            self.send(&reply).await;
        }
    }

    pub(crate) async fn cmd_epsv(&mut self, arg: EpsvArg) {
        let ours: u8 = if self.passive_bind_ip().is_ipv4() { 1 } else { 2 };
        match arg {
            EpsvArg::All => {
                self.epsv_all = true;
                self.reply(200, "EPSV ALL ok.").await;
            }
            EpsvArg::Protocol(p) if p != ours => {
                self.reply(522, format!("Network protocol not supported, use ({ours})")).await;
            }
            EpsvArg::None | EpsvArg::Protocol(_) => {
                if let Some(port) = self.open_passive().await {
                    let reply = epsv_reply(port);
                    self.send(&reply).await;
                }
            }
        }
    }

    pub(crate) async fn cmd_port(&mut self, target: SocketAddr) {
        if self.epsv_all {
            return self.reply(503, "EPSV ALL in effect: use EPSV.").await;
        }
        if !self.shared.options.active_enabled {
            return self.reply(502, "Active mode is disabled on this server; use PASV or EPSV.").await;
        }
        let peer = self.peer.ip().to_canonical();
        let target = SocketAddr::new(target.ip().to_canonical(), target.port());
        if target.is_ipv4() != peer.is_ipv4() {
            let ours = if peer.is_ipv4() { 1 } else { 2 };
            return self.reply(522, format!("Network protocol not supported, use ({ours})")).await;
        }
        if !same_host(target.ip(), peer) {
            slog::warn!(self.logger, "refused active data connection to a third host"; "target" => %target);
            return self.reply(501, "Illegal PORT: the address must be your own.").await;
        }
        if target.port() < 1024 {
            slog::warn!(self.logger, "refused active data connection to a privileged port"; "target" => %target);
            return self.reply(501, "Illegal PORT: the port must be 1024 or higher.").await;
        }
        self.data = Some(DataSetup::Active(target));
        self.reply(200, "PORT command successful. Consider using PASV.").await;
    }
}
