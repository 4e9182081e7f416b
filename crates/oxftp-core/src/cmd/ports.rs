//! Data connection set-up: PASV, PORT (RFC 959 4.1.2), EPSV and EPRT (RFC 2428).
//!
//! Security: PASV listens on the control connection's local address; the
//! connection must come from the control connection's client (checked where
//! the port hands connections out, `crate::passive`). PORT/EPRT
//! must name the control peer's own address and a port >= 1024, so the server
//! cannot be used to reach third hosts or privileged ports (FTP bounce,
//! CERT CA-1997-27). On an IPv6 control connection PASV and PORT cannot express
//! the address; clients must use EPSV/EPRT.

use std::net::{IpAddr, SocketAddr, SocketAddrV4};

use oxftp_proto::addr::{epsv_reply, pasv_reply};
use oxftp_proto::command::EpsvArg;

use crate::conn::{Answered, Conn, Replied, Transfer};
use crate::data::{DataSetup, PassiveData, same_host};

/// The address passive listeners bind to: the control connection's local
/// address on this node (behind a proxy, not the address the client reached).
fn passive_bind_ip(conn: &Conn) -> IpAddr {
    conn.local.ip().to_canonical()
}

/// Wait on a passive port for the next data connection; its port, or `425`.
async fn open_passive(conn: &mut Conn, transfer: &mut Transfer) -> Result<u16, Replied> {
    transfer.data = None; // gives up any earlier place on a port first
    match conn.ctx.passive.wait_for(passive_bind_ip(conn), conn.peer.ip()) {
        Ok(wait) => {
            let port = wait.port;
            let gauge = conn.metrics().map(|m| m.passive_port_opened());
            let accept = PassiveData::start(wait, gauge, conn.data_tls());
            transfer.data = Some(DataSetup::Passive(accept));
            Ok(port)
        }
        Err(e) => {
            slog::warn!(conn.logger, "passive listen failed"; "error" => %e);
            Err(conn.reply(425, format!("Cannot open passive connection: {e}")).await)
        }
    }
}

/// `PASV` (RFC 959 4.1.2) → `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)`
/// with the listener's passive address (by default the address the client
/// reached: behind a PROXY-protocol balancer, the balancer's) · `425` on an
/// IPv6 address, when a passive address name has not resolved, or when no
/// port is free · `503` after EPSV ALL.
pub(crate) async fn pasv(conn: &mut Conn, transfer: &mut Transfer) -> Answered {
    if transfer.epsv_all {
        return Err(conn.reply(503, "EPSV ALL in effect: use EPSV.").await);
    }
    let advertised = match conn.passive_address.announce(conn.reached.ip(), passive_bind_ip(conn)) {
        Some(IpAddr::V4(ip)) => ip,
        Some(IpAddr::V6(_)) => {
            return Err(conn.reply(425, "PASV cannot describe an IPv6 address; use EPSV.").await);
        }
        None => {
            slog::warn!(conn.logger, "PASV refused: the passive address name has not resolved yet");
            return Err(conn.reply(425, "Passive address not available; try EPSV.").await);
        }
    };
    let port = open_passive(conn, transfer).await?;
    Ok(conn.send(&pasv_reply(SocketAddrV4::new(advertised, port))).await)
}

/// `EPSV [1|2|ALL]` (RFC 2428 §3) → `229 Entering Extended Passive Mode
/// (|||port|)` (no address: the client connects to the address it reached,
/// so EPSV works through a balancer unchanged) · `EPSV ALL` → `200` (after which PORT, EPRT and PASV get
/// 503) · `522` for the other network protocol.
pub(crate) async fn epsv(conn: &mut Conn, transfer: &mut Transfer, arg: EpsvArg) -> Answered {
    // The family of the address the client reached (behind a balancer, its own).
    let ours: u8 = if conn.reached.ip().to_canonical().is_ipv4() { 1 } else { 2 };
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
