//! Running the daemon: bind every listener, announce them, serve until
//! SIGINT/SIGTERM, then shut down gracefully.
//!
//! The announcement (`oxftpd listening on ADDR`, one line per listener, with
//! the port actually bound) goes to stdout and is flushed at once: scripts and
//! tests start the daemon on port 0 and read the port from there. Implicit
//! FTPS listeners come after the plain ones, as `oxftpd listening on ADDR
//! implicit-ftps`: the suffix keeps a reader that only wants plain FTP (and
//! parses the rest of the line as an address) from mistaking one for a plain
//! listener.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::Context as _;
use oxftp_core::server::Listener;
use slog::{Logger, info, warn};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::oneshot;

use crate::compose;
use crate::config::Config;

/// How the daemon was started, for what it prints on startup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `oxftpd` without a config: print how to connect.
    Quick,
    /// `oxftpd --config FILE`.
    Configured,
}

/// Serves `config` until a shutdown signal; returns when the server has stopped.
pub fn run(config: &Config, mode: Mode, logger: Logger) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("oxftpd")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config, mode, logger))
}

async fn serve(config: &Config, mode: Mode, logger: Logger) -> anyhow::Result<()> {
    let composed = compose::server(config, logger.clone()).await?;
    let server = composed.server;
    let implicit = config.tls.as_ref().map_or(&[][..], |tls| tls.implicit_listen.as_slice());
    let mut listeners = Vec::with_capacity(config.server.listen.len() + implicit.len());
    for (addrs, implicit_tls) in [(&config.server.listen[..], false), (implicit, true)] {
        for addr in addrs {
            let what = if implicit_tls { " (implicit FTPS)" } else { "" };
            let tcp = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}{what}"))?;
            listeners.push(Listener { tcp, implicit_tls });
        }
    }
    let bound: Vec<(SocketAddr, bool)> = listeners
        .iter()
        .map(|l| l.tcp.local_addr().map(|addr| (addr, l.implicit_tls)))
        .collect::<std::io::Result<_>>()
        .context("cannot read a listener's address")?;
    // Signal handlers go in before the announcement: a script that reads
    // "listening" and then sends SIGTERM must get a graceful shutdown.
    let shutdown = shutdown_signal(logger.clone())?;
    reload_on_hangup(composed.reload, logger.clone())?;
    announce(&bound, mode, config)?;
    for (addr, implicit_tls) in &bound {
        info!(logger, "listening"; "address" => %addr, "implicit_ftps" => implicit_tls);
    }
    server.run_listeners(listeners, shutdown).await.context("server failed")?;
    info!(logger, "stopped");
    Ok(())
}

/// Prints one `oxftpd listening on ADDR` line per listener (with an
/// ` implicit-ftps` suffix for implicit FTPS ones), then (in quick mode) how
/// to connect, and flushes.
fn announce(bound: &[(SocketAddr, bool)], mode: Mode, config: &Config) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for (addr, implicit_tls) in bound {
        writeln!(out, "{}", listening_line(*addr, *implicit_tls)).context("cannot write to stdout")?;
    }
    if let (Mode::Quick, Some((first, _))) = (mode, bound.first()) {
        let url = url_for(*first);
        writeln!(out, "Serving {} read-only to anonymous on {url}  — try: curl {url}", config.storage.describe())
            .context("cannot write to stdout")?;
    }
    out.flush().context("cannot write to stdout")
}

/// The announcement for one listener.
fn listening_line(addr: SocketAddr, implicit_tls: bool) -> String {
    if implicit_tls {
        format!("oxftpd listening on {addr} implicit-ftps")
    } else {
        format!("oxftpd listening on {addr}")
    }
}

/// An `ftp://` URL a local client can use to reach `addr` (a wildcard
/// address is reached through loopback).
pub fn url_for(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("ftp://{}/", SocketAddr::new(ip, addr.port()))
}

/// Re-reads the accounts file on every SIGHUP (see [`compose::Reload`]);
/// sessions are never dropped by a reload.
fn reload_on_hangup(reload: compose::Reload, logger: Logger) -> anyhow::Result<()> {
    let mut hangup = signal(SignalKind::hangup()).context("cannot install the SIGHUP handler")?;
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            reload.run(&logger).await;
        }
    });
    Ok(())
}

/// A future that resolves on the first SIGINT or SIGTERM. A second signal
/// while transfers are draining ends the process at once, for an operator
/// who cannot wait for `shutdown_timeout`.
fn shutdown_signal(logger: Logger) -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        info!(logger, "shutting down: no new connections, running transfers may finish"; "signal" => name);
        let _ = tx.send(());
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        warn!(logger, "second signal: exiting without waiting for transfers"; "signal" => name);
        // Logs are asynchronous; give the writer a moment before leaving.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        std::process::exit(130);
    });
    Ok(async move {
        // An error means the signal task is gone, which only happens when
        // the runtime shuts down: stop either way.
        let _ = rx.await;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_reach_wildcard_listeners_through_loopback() {
        assert_eq!(url_for("127.0.0.1:2121".parse().unwrap()), "ftp://127.0.0.1:2121/");
        assert_eq!(url_for("0.0.0.0:21".parse().unwrap()), "ftp://127.0.0.1:21/");
        assert_eq!(url_for("[::]:2121".parse().unwrap()), "ftp://[::1]:2121/");
        assert_eq!(url_for("[2001:db8::1]:21".parse().unwrap()), "ftp://[2001:db8::1]:21/");
    }

    #[test]
    fn implicit_listeners_are_announced_distinguishably() {
        let addr: SocketAddr = "127.0.0.1:990".parse().unwrap();
        assert_eq!(listening_line(addr, false), "oxftpd listening on 127.0.0.1:990");
        let implicit = listening_line(addr, true);
        assert_eq!(implicit, "oxftpd listening on 127.0.0.1:990 implicit-ftps");
        // A reader that parses the rest of a plain line as an address skips it.
        let rest = implicit.strip_prefix("oxftpd listening on ").unwrap();
        assert!(rest.parse::<SocketAddr>().is_err());
    }
}
