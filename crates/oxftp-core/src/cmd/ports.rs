//! Data connection set-up: PASV, PORT (RFC 959 4.1.2), EPSV and EPRT (RFC 2428).
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

use crate::conn::{Answered, Conn, Replied, Transfer};
use crate::data::{DataSetup, PassiveData, bind_passive, same_host};

/// The address passive listeners bind to: where the client reached us.
fn passive_bind_ip(conn: &Conn) -> IpAddr {
    conn.local.ip().to_canonical()
}

/// Listen for the next data connection; its port, or `425`.
async fn open_passive(conn: &mut Conn, transfer: &mut Transfer) -> Result<u16, Replied> {
    transfer.data = None; // frees any earlier listener's port first
    match bind_passive(passive_bind_ip(conn), conn.ctx.options.passive_ports).await {
        Ok(listener) => {
            let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
            let gauge = conn.metrics().map(|m| m.passive_port_opened());
            let accept = PassiveData::start(listener, gauge, conn.peer.ip(), conn.data_tls());
            transfer.data = Some(DataSetup::Passive(accept));
            Ok(port)
        }
        Err(e) => {
            slog::warn!(conn.logger, "passive listen failed"; "error" => %e);
            Err(conn.reply(425, format!("Cannot open passive connection: {e}")).await)
        }
    }
}

/// `PASV` (RFC 959 4.1.2) → `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)` ·
/// `425` on an IPv6 address or when no port is free · `503` after EPSV ALL.
pub(crate) async fn pasv(conn: &mut Conn, transfer: &mut Transfer) -> Answered {
    if transfer.epsv_all {
        return Err(conn.reply(503, "EPSV ALL in effect: use EPSV.").await);
    }
    let advertised = match conn.ctx.options.passive_address.unwrap_or(passive_bind_ip(conn)) {
        IpAddr::V4(ip) => ip,
        IpAddr::V6(_) => {
            return Err(conn.reply(425, "PASV cannot describe an IPv6 address; use EPSV.").await);
        }
    };
    let port = open_passive(conn, transfer).await?;
    Ok(conn.send(&pasv_reply(SocketAddrV4::new(advertised, port))).await)
}

/// `EPSV [1|2|ALL]` (RFC 2428 §3) → `229 Entering Extended Passive Mode
/// (|||port|)` · `EPSV ALL` → `200` (after which PORT, EPRT and PASV get
/// 503) · `522` for the other network protocol.
pub(crate) async fn epsv(conn: &mut Conn, transfer: &mut Transfer, arg: EpsvArg) -> Answered {
    let ours: u8 = if passive_bind_ip(conn).is_ipv4() { 1 } else { 2 };
    match arg {
        EpsvArg::All => {
            transfer.epsv_all = true;
            Ok(conn.reply(200, "EPSV ALL ok.").await)
        }
        EpsvArg::Protocol(p) if p != ours => {
            Err(conn.reply(522, format!("Network protocol not supported, use ({ours})")).await)
        }
        EpsvArg::None | EpsvArg::Protocol(_) => {
            let port = open_passive(conn, transfer).await?;
            Ok(conn.send(&epsv_reply(port)).await)
        }
    }
}

/// `PORT h1,h2,h3,h4,p1,p2` (RFC 959 4.1.2) / `EPRT |proto|addr|port|` (RFC
/// 2428 §2) → `200` · `501` for another host's address or a port below 1024
/// · `522` for the other address family · `502` when active mode is off ·
/// `503` after EPSV ALL.
pub(crate) async fn port(conn: &mut Conn, transfer: &mut Transfer, target: SocketAddr) -> Answered {
    if transfer.epsv_all {
        return Err(conn.reply(503, "EPSV ALL in effect: use EPSV.").await);
    }
    if !conn.ctx.options.active_enabled {
        return Err(conn.reply(502, "Active mode is disabled on this server; use PASV or EPSV.").await);
    }
    let peer = conn.peer.ip().to_canonical();
    let target = SocketAddr::new(target.ip().to_canonical(), target.port());
    if target.is_ipv4() != peer.is_ipv4() {
        let ours = if peer.is_ipv4() { 1 } else { 2 };
        return Err(conn.reply(522, format!("Network protocol not supported, use ({ours})")).await);
    }
    if !same_host(target.ip(), peer) {
        slog::warn!(conn.logger, "refused active data connection to a third host"; "target" => %target);
        return Err(conn.reply(501, "Illegal PORT: the address must be your own.").await);
    }
    if target.port() < 1024 {
        slog::warn!(conn.logger, "refused active data connection to a privileged port"; "target" => %target);
        return Err(conn.reply(501, "Illegal PORT: the port must be 1024 or higher.").await);
    }
    transfer.data = Some(DataSetup::Active(target));
    Ok(conn.reply(200, "PORT command successful. Consider using PASV.").await)
}
