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
//!
//! With an `[sftp]` table SFTP is served too, on its own listeners, each
//! announced after the FTP ones as `oxftpd sftp listening on ADDR`. With a
//! `[web]` table the browser FTP client is served too, on its own
//! listener, announced after those as `oxftpd web client on
//! http://ADDR/` (`https://` with `web.tls`). All stop on the same signal.
//! With `[admin]`, the admin listener (metrics, probes) is announced last,
//! as `oxftpd admin on http://ADDR/`; it answers until the server has
//! stopped, `/readyz` with 503 from the shutdown signal on.
//!
//! Start-up order: compose the server, bind every listener (as root when
//! started as root, so ports below 1024 work), switch to `server.run_as`,
//! start the event hooks and open the xferlog (as that user), install the
//! signal handlers, announce, tell systemd READY=1, serve.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use oxftp_core::metrics::PREFIX;
use oxftp_core::server::{Listener, bind_listener};
use oxftp_core::tls::SessionReuse;
use slog::{Logger, info, warn};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::compose;
use crate::config::Config;
use crate::notify;
use crate::privileges::{self, Plan};
use crate::reload::Reloader;

/// How the daemon was started, for what it prints on startup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `oxftpd` without a config: print how to connect.
    Quick,
    /// `oxftpd --config FILE`.
    Configured,
}

/// Serves `config` until a shutdown signal; returns when the server has stopped.
pub fn run(config: &Config, mode: Mode, plan: Plan, logger: Logger) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("oxftpd")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(config, mode, plan, logger))
}

async fn serve(config: &Config, mode: Mode, plan: Plan, logger: Logger) -> anyhow::Result<()> {
    let composed = compose::server(config, logger.clone()).await?;
    let mut server = composed.server;
    let mut registry = composed.registry;
    let mut sftp = composed.sftp;
    let implicit = config.tls.as_ref().map_or(&[][..], |tls| tls.implicit_listen.as_slice());
    let relaxed = config.tls.as_ref().map_or(&[][..], |tls| tls.session_reuse_off_listen.as_slice());
    let mut listeners = Vec::with_capacity(config.server.listen.len() + implicit.len() + relaxed.len());
    for (addrs, implicit_tls) in [(&config.server.listen[..], false), (implicit, true)] {
        for addr in addrs {
            let what = if implicit_tls { " (implicit FTPS)" } else { "" };
            let tcp = bind_listener(*addr).with_context(|| format!("cannot listen on {addr}{what}"))?;
            listeners.push(if implicit_tls { Listener::implicit_tls(tcp) } else { Listener::new(tcp) });
        }
    }
    let mut relaxed_listeners = Vec::with_capacity(relaxed.len());
    let mut relaxed_bound = Vec::with_capacity(relaxed.len());
    for addr in relaxed {
        let tcp =
            bind_listener(*addr).with_context(|| format!("cannot listen on {addr} (tls.session_reuse_off_listen)"))?;
        relaxed_bound.push(tcp.local_addr().context("cannot read a listener's address")?);
        relaxed_listeners.push(Listener::new(tcp).with_session_reuse(SessionReuse::Off));
    }
    let bound: Vec<(SocketAddr, bool)> = listeners
        .iter()
        .map(|l| l.tcp.local_addr().map(|addr| (addr, l.implicit_tls)))
        .collect::<std::io::Result<_>>()
        .context("cannot read a listener's address")?;
    let sftp_listen = config.sftp.as_ref().map_or(&[][..], |s| s.listen.as_slice());
    let mut sftp_listeners = Vec::with_capacity(sftp_listen.len());
    for addr in sftp_listen {
        sftp_listeners.push(bind_listener(*addr).with_context(|| format!("cannot listen on {addr} (sftp.listen)"))?);
    }
    let sftp_bound: Vec<SocketAddr> = sftp_listeners
        .iter()
        .map(|l| l.local_addr())
        .collect::<std::io::Result<_>>()
        .context("cannot read an SFTP listener's address")?;
    let mut preview_tcp = None;
    let mut web = match &config.web {
        Some(settings) => {
            // The default upstream is this daemon's listeners as bound, so
            // `listen = ["127.0.0.1:0"]` still gives the client a real port.
            let (web_config, web_tls) = compose::web(settings, config.tls.as_ref(), &bound)?;
            let addr = settings.listen;
            let tcp = bind_listener(addr).with_context(|| format!("cannot listen on {addr} (web client)"))?;
            let local = tcp.local_addr().context("cannot read the web client's address")?;
            let mut web_config = web_config;
            if let Some(addr) = settings.preview_listen {
                let preview =
                    bind_listener(addr).with_context(|| format!("cannot listen on {addr} (web.preview_listen)"))?;
                web_config.preview_port =
                    Some(preview.local_addr().context("cannot read the preview's address")?.port());
                preview_tcp = Some(preview);
            }
            Some((tcp, local, web_config, web_tls))
        }
        None => None,
    };
    let admin_tcp = match &config.admin {
        Some(admin) => {
            let tcp = bind_listener(admin.listen)
                .with_context(|| format!("cannot listen on {} (admin.listen)", admin.listen))?;
            let local = tcp.local_addr().context("cannot read the admin listener's address")?;
            Some((tcp, local))
        }
        None => None,
    };
    // Every listener is bound: now leave root for good (when asked to).
    become_unprivileged(&plan, config, &logger)?;
    // Spools belong to the user the daemon runs as.
    let hooks = match &config.hooks {
        Some(settings) => {
            let (with_hooks, hooks) = compose::start_hooks(settings, server, registry.as_mut(), &logger)?;
            server = with_hooks;
            // SFTP's logins and transfers go to the same hooks.
            sftp = sftp.map(|sftp| sftp.with_event_sink(Arc::new(hooks.clone())));
            Some(hooks)
        }
        None => None,
    };
    let xferlog = match composed.xferlog {
        Some(pending) => Some(pending.start()?),
        None => None,
    };
    let reloader = Reloader {
        accounts: composed.reload,
        tls: config.tls.as_ref().map(|settings| settings.tls.clone()),
        web_tls: web.as_mut().and_then(|(_, _, _, web_tls)| web_tls.take()),
        xferlog: xferlog.as_ref().map(|handle| handle.reopener()),
    };
    // Signal handlers go in before the announcement: a script that reads
    // "listening" and then sends SIGTERM must get a graceful shutdown.
    let shutdown = shutdown_signal(logger.clone())?;
    reload_on_hangup(reloader, logger.clone())?;
    let web_announced = web.as_ref().map(|(_, local, web_config, _)| (*local, web_config.https.is_some()));
    let admin_announced = admin_tcp.as_ref().map(|(_, local)| *local);
    announce(&bound, &relaxed_bound, &sftp_bound, web_announced, admin_announced, mode, config)?;
    for (addr, implicit_tls) in &bound {
        info!(logger, "listening"; "address" => %addr, "implicit_ftps" => implicit_tls);
    }
    for addr in &sftp_bound {
        info!(logger, "SFTP listening"; "address" => %addr);
    }
    let sftp_task = sftp.map(|sftp| {
        let stop = stopped(shutdown.clone());
        let sftp_logger = logger.clone();
        tokio::spawn(async move {
            if let Err(e) = sftp.run(sftp_listeners, stop).await {
                slog::error!(sftp_logger, "SFTP server failed"; "error" => %e);
            }
        })
    });
    let status = bound.iter().map(|(addr, _)| addr.to_string()).collect::<Vec<_>>().join(", ");
    notify::ready(&logger, &format!("listening on {status}"));
    let web_task = web.map(|(tcp, local, web_config, _)| {
        info!(logger, "web client listening"; "address" => %local, "upstream" => &web_config.default_upstream);
        let web_logger = logger.new(slog::o!("component" => "web"));
        let web_server = oxftp_web::WebServer::new(web_config).with_logger(web_logger.clone());
        if let Some(registry) = registry.as_mut() {
            let collector = crate::admin::WebCollector::new(web_server.clone());
            registry.sub_registry_with_prefix(PREFIX).register_collector(Box::new(collector));
        }
        if let Some(problem) = web_server.upstream_tls_problem() {
            warn!(logger, "web client: FTPS upstreams other than this server cannot be reached"; "reason" => problem);
        }
        if let Some(problem) = web_server.shares_problem() {
            warn!(logger, "web client: share links are unavailable (none is made or changed)"; "reason" => problem);
        }
        if let Some(preview) = preview_tcp.take() {
            let (preview_server, preview_logger) = (web_server.clone(), web_logger.clone());
            let stop = stopped(shutdown.clone());
            info!(logger, "web client's PDF preview listening"; "address" => %preview.local_addr().map(|a| a.to_string()).unwrap_or_default());
            tokio::spawn(async move {
                if let Err(e) = preview_server.serve_preview(preview, stop).await {
                    slog::error!(preview_logger, "web client's PDF preview failed"; "error" => %e);
                }
            });
        }
        let stop = stopped(shutdown.clone());
        tokio::spawn(async move {
            if let Err(e) = web_server.serve(tcp, stop).await {
                slog::error!(web_logger, "web client failed"; "error" => %e);
            }
        })
    });
    listeners.extend(relaxed_listeners);
    // The admin listener outlives the drain after a shutdown signal, so
    // /readyz can say 503 while transfers finish; it stops with the server.
    let (admin_stop, admin_stopped) = tokio::sync::oneshot::channel::<()>();
    let admin_task = admin_tcp.map(|(tcp, local)| {
        if !local.ip().is_loopback() {
            warn!(logger, "the admin listener is not on loopback: anyone who reaches it reads the metrics (per-user metrics name accounts); keep it on a private network"; "listen" => %local);
        }
        info!(logger, "admin listening"; "address" => %local);
        let admin = crate::admin::Admin {
            registry: registry.take().unwrap_or_default(),
            readiness: crate::admin::Readiness::new(Arc::clone(&composed.stack), logger.new(slog::o!("component" => "readiness"))),
            stopping: shutdown.clone(),
            logger: logger.new(slog::o!("component" => "admin")),
        };
        tokio::spawn(crate::admin::serve(admin, tcp, async {
            let _ = admin_stopped.await;
        }))
    });
    server.run_listeners(listeners, stopped(shutdown)).await.context("server failed")?;
    if let Some(task) = sftp_task {
        // It stops on the same signal and gives its sessions the same grace.
        let _ = task.await;
    }
    if let Some(task) = web_task {
        // The FTP server has already given its transfers shutdown_timeout;
        // web downloads get the same grace, then are cut.
        let abort = task.abort_handle();
        if tokio::time::timeout(config.server.shutdown_timeout, task).await.is_err() {
            warn!(logger, "web client transfers still running at shutdown_timeout; closing them");
            abort.abort();
        }
    }
    if let Some(xferlog) = xferlog {
        xferlog.close().await;
    }
    if let Some(hooks) = hooks {
        // What is still spooled is resent at the next start.
        hooks.stop();
    }
    let _ = admin_stop.send(());
    if let Some(task) = admin_task {
        let _ = task.await;
    }
    info!(logger, "stopped");
    Ok(())
}

/// Carries out the privilege plan once every listener is bound: switch to
/// `server.run_as` and check that it can reach the storage (warnings for
/// files only SIGHUP re-reads), or log that root is kept.
fn become_unprivileged(plan: &Plan, config: &Config, logger: &Logger) -> anyhow::Result<()> {
    match plan {
        Plan::Stay => Ok(()),
        Plan::KeepRoot => {
            warn!(
                logger,
                "running as root (server.allow_root = true): every session works with root's rights; \
                           set server.run_as to switch to an unprivileged user after binding"
            );
            Ok(())
        }
        Plan::QuickStartAsRoot => {
            warn!(
                logger,
                "running as root without a config: the quick start serves this directory read-only to anonymous \
                 users; for anything more, use a config with server.run_as"
            );
            Ok(())
        }
        Plan::DropTo(run_as) => {
            privileges::drop_to(run_as)?;
            info!(logger, "switched to an unprivileged user"; "user" => &run_as.user, "uid" => run_as.uid, "gid" => run_as.gid);
            for warning in privileges::check_access(config)? {
                warn!(logger, "{}", warning);
            }
            Ok(())
        }
    }
}

/// Prints one `oxftpd listening on ADDR` line per listener (with an
/// ` implicit-ftps` suffix for implicit FTPS ones, ` session-reuse-off` for
/// those of `tls.session_reuse_off_listen`), then one `oxftpd sftp listening
/// on ADDR` per SFTP listener, then the web client's
/// `oxftpd web client on http://ADDR/` (or `https://`) when it is on, then
/// (in quick mode) how to connect, and flushes. `web` is the web client's
/// address and whether it serves HTTPS.
fn announce(
    bound: &[(SocketAddr, bool)],
    relaxed: &[SocketAddr],
    sftp: &[SocketAddr],
    web: Option<(SocketAddr, bool)>,
    admin: Option<SocketAddr>,
    mode: Mode,
    config: &Config,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for (addr, implicit_tls) in bound {
        writeln!(out, "{}", listening_line(*addr, *implicit_tls)).context("cannot write to stdout")?;
    }
    for addr in relaxed {
        writeln!(out, "oxftpd listening on {addr} session-reuse-off").context("cannot write to stdout")?;
    }
    for addr in sftp {
        writeln!(out, "oxftpd sftp listening on {addr}").context("cannot write to stdout")?;
    }
    if let Some((addr, https)) = web {
        writeln!(out, "{}", web_line(addr, https)).context("cannot write to stdout")?;
    }
    if let Some(addr) = admin {
        writeln!(out, "{}", admin_line(addr)).context("cannot write to stdout")?;
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

/// The announcement of the web client, with the port actually bound.
fn web_line(addr: SocketAddr, https: bool) -> String {
    let scheme = if https { "https" } else { "http" };
    format!("oxftpd web client on {scheme}://{addr}/")
}

/// The announcement of the admin listener, with the port actually bound.
fn admin_line(addr: SocketAddr) -> String {
    format!("oxftpd admin on http://{addr}/")
}

/// An `ftp://` URL a local client can use to reach `addr` (a wildcard
/// address is reached through loopback).
pub fn url_for(addr: SocketAddr) -> String {
    format!("ftp://{}/", compose::reachable(addr))
}

/// Reloads on every SIGHUP (accounts, certificates, xferlog; see
/// [`Reloader`]); sessions are never dropped by a reload.
fn reload_on_hangup(reloader: Reloader, logger: Logger) -> anyhow::Result<()> {
    let mut hangup = signal(SignalKind::hangup()).context("cannot install the SIGHUP handler")?;
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            reloader.run(&logger).await;
        }
    });
    Ok(())
}

/// A future that resolves on the first SIGINT or SIGTERM. A second signal
/// while transfers are draining ends the process at once, for an operator
/// who cannot wait for `shutdown_timeout`.
///
/// The result is a flag rather than a future because two servers (FTP and,
/// with `[web]`, HTTP) stop on the same signal; see [`stopped`].
fn shutdown_signal(logger: Logger) -> anyhow::Result<watch::Receiver<bool>> {
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        info!(logger, "shutting down: no new connections, running transfers may finish"; "signal" => name);
        notify::stopping(&logger);
        let _ = tx.send(true);
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        warn!(logger, "second signal: exiting without waiting for transfers"; "signal" => name);
        // Logs are asynchronous; give the writer a moment before leaving.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        std::process::exit(130);
    });
    Ok(rx)
}

/// A future that resolves once `flag` (from [`shutdown_signal`]) is set.
async fn stopped(mut flag: watch::Receiver<bool>) {
    // An error means the signal task is gone, which only happens when the
    // runtime shuts down: stop either way.
    let _ = flag.wait_for(|stop| *stop).await;
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

    #[test]
    fn the_web_client_is_announced_apart_from_ftp_listeners() {
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(web_line(addr, false), "oxftpd web client on http://127.0.0.1:8080/");
        assert_eq!(web_line("[::1]:80".parse().unwrap(), false), "oxftpd web client on http://[::1]:80/");
        assert_eq!(web_line(addr, true), "oxftpd web client on https://127.0.0.1:8080/");
        // Never mistaken for an FTP listener by readers of "oxftpd listening on".
        assert!(!web_line(addr, true).starts_with("oxftpd listening on "));
    }
}
