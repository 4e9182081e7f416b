//! [`Options`]: everything about the engine's behaviour that a daemon or
//! embedder sets (timeouts, ports, limits, TLS, listeners of events).

use std::time::Duration;

pub use crate::endpoints::ProxyProtocol;
pub use crate::passive::{PassiveAddress, ResolvedName};

/// Everything about the engine's behaviour that a daemon or embedder sets.
///
/// Start from [`Options::default()`] and set the fields that differ: new
/// fields come with later versions, so outside this crate the struct is
/// built that way rather than as a literal.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// Text of the 220 greeting.
    pub greeting: String,
    /// Passive data ports (inclusive); `None` lets the OS pick ephemeral ports.
    pub passive_ports: Option<(u16, u16)>,
    /// Address announced in 227 replies; default: the address the client
    /// reached (a PROXY header's destination, or our own). A listener may
    /// have its own ([`Listener::with_passive_address`](crate::server::Listener::with_passive_address)).
    pub passive_address: PassiveAddress,
    /// Passive data connections start with a PROXY protocol header (they come
    /// through the same balancer as control connections); trusted proxies as
    /// in `proxy_protocol`.
    pub passive_proxy_protocol: bool,
    /// Which proxies may send PROXY protocol headers, on listeners that
    /// expect them ([`Listener::with_proxy_protocol`](crate::server::Listener::with_proxy_protocol))
    /// and on passive data connections (`passive_proxy_protocol`).
    pub proxy_protocol: ProxyProtocol,
    /// Allow PORT/EPRT (active mode).
    pub active_enabled: bool,
    /// Connect active data channels from port 20 (needs privilege; falls back
    /// to an ephemeral port when binding fails).
    pub active_source_port_20: bool,
    /// A logged-in session with no command for this long gets 421 and is closed.
    pub idle_timeout: Duration,
    /// A connection must log in within this time.
    pub login_timeout: Duration,
    /// Waiting for a data connection (passive accept, active connect), and for
    /// any progress on one.
    pub data_timeout: Duration,
    /// Concurrent sessions; more get 421 at the greeting. 0 = unlimited.
    pub max_sessions: usize,
    /// Longest control line accepted (longer ones get 500).
    pub max_line: usize,
    /// Delay before a failed login's 530 (slows password guessing; the same for
    /// every failure reason).
    pub failed_login_delay: Duration,
    /// Failed logins after which the connection is closed.
    pub max_login_failures: u32,
    /// On shutdown, how long running sessions may go on before they are dropped.
    pub shutdown_timeout: Duration,
    /// FTPS (AUTH TLS, PROT P, implicit listeners); `None` = plain FTP only.
    pub tls: Option<crate::tls::Tls>,
    /// Concurrent sessions from one client address (421 at the greeting). 0 = unlimited.
    pub max_sessions_per_ip: usize,
    /// Which client addresses may connect at all (421 at the greeting otherwise).
    pub ip_rules: crate::account::IpRules,
    /// Ban addresses (and optionally accounts) after repeated failed logins; `None` = off.
    pub ban: Option<crate::admission::BanPolicy>,
    /// Bans, session counts and quota usage shared with the other nodes
    /// serving the same store (wrap a cluster's state in
    /// [`Degrading`](crate::admission::Degrading) so an outage falls back to
    /// this node's own); `None`: this process keeps its own. The
    /// [`Admission`](crate::admission::Admission) built by
    /// [`Options::admission`] keeps its bans and session places here, and a
    /// stack a server builds itself shares quota usage through it.
    pub shared_state: Option<std::sync::Arc<dyn crate::shared_state::SharedState>>,
    /// Server-wide download rate, bytes per second, shared by every session.
    pub download_rate: Option<u64>,
    /// Server-wide upload rate, bytes per second, shared by every session.
    pub upload_rate: Option<u64>,
    /// Told about every finished transfer (e.g. to announce completed uploads).
    pub transfer_listeners: Vec<std::sync::Arc<dyn crate::events::TransferListener>>,
    /// Where the engine counts what it does (see [`crate::metrics`]): made
    /// with [`Metrics::new`](crate::metrics::Metrics::new) over the
    /// embedder's registry. `None`: nothing is counted, at no cost. A
    /// stack given with `Server::with_stack` counts storage operations only
    /// if it was made with [`Stack::with_metrics`](crate::policy::Stack::with_metrics).
    pub metrics: Option<crate::metrics::Metrics>,
    /// Take the session's [`Event`](crate::events::Event)s (logins, uploads,
    /// deletes, ...), each awaited before the reply that reports the
    /// operation (see [`EventSink`](crate::events::EventSink)). Empty: no
    /// event is made.
    pub event_sinks: Vec<std::sync::Arc<dyn crate::events::EventSink>>,
    /// Let SITE CHMOD set the setuid, setgid and sticky bits. Off: they are
    /// left out, since files belong to the user the server runs as (root,
    /// often) and a client could otherwise make a setuid program of its own.
    pub chmod_special_bits: bool,
    /// Connections from one client address that have not logged in yet
    /// (TLS handshakes included; with a shared
    /// [`Admission`](crate::admission::Admission), those of every front end
    /// together); more get 421 at the greeting. Bounds what
    /// one address can hold with connections that never log in (each lives
    /// at most `login_timeout`). 0 = unlimited.
    pub max_prelogin_per_ip: usize,
    /// Unknown commands (and empty lines) a connection may send before it
    /// logs in; at the next one it gets 421 and is closed, as vsftpd 3.0.4
    /// does: an HTTP request sent to the FTP port (a browser made to, in the
    /// ALPACA attack) never reaches the FTP commands in its body. 0 = unlimited.
    pub max_unknown_before_login: u32,
    /// TLS handshakes of control connections in progress at once, server
    /// wide; beyond it an implicit FTPS connection is closed and AUTH TLS
    /// gets 431, so a flood of half-open handshakes cannot pile up. Each
    /// lasts at most the TLS handshake timeout. 0 = unlimited.
    pub max_tls_handshakes: usize,
    /// How often the storage factory sweeps away what dead uploads left
    /// ([`StorageFactory::sweep_abandoned_uploads`](crate::StorageFactory::sweep_abandoned_uploads));
    /// it also sweeps once when the server starts. `None`: only at start.
    pub upload_sweep_interval: Option<Duration>,
    /// HASH: how many bytes one session may hash in all (each HASH reads a
    /// whole file); 0 turns HASH off. Default 16 GiB.
    pub hash_bytes_per_session: u64,
    /// Let anonymous sessions use HASH (off: a public server is not an open CPU).
    pub hash_anonymous: bool,
}

impl Options {
    /// The connection and login limits these options set, for the
    /// [`Admission`](crate::admission::Admission) a server's front ends share.
    pub fn admission_limits(&self) -> crate::admission::AdmissionLimits {
        crate::admission::AdmissionLimits {
            max_sessions: self.max_sessions,
            max_sessions_per_ip: self.max_sessions_per_ip,
            ip_rules: self.ip_rules.clone(),
            ban: self.ban.clone(),
            max_prelogin_per_ip: self.max_prelogin_per_ip,
        }
    }

    /// The door for a server's front ends: [`Options::admission_limits`]
    /// over `shared_state` (this process's own state when `None`).
    pub fn admission(&self) -> crate::admission::Admission {
        match &self.shared_state {
            Some(state) => {
                crate::admission::Admission::with_state(self.admission_limits(), std::sync::Arc::clone(state))
            }
            None => crate::admission::Admission::new(self.admission_limits()),
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            greeting: "oxftp ready".to_string(),
            passive_ports: None,
            passive_address: PassiveAddress::default(),
            passive_proxy_protocol: false,
            proxy_protocol: ProxyProtocol::default(),
            active_enabled: true,
            active_source_port_20: false,
            idle_timeout: Duration::from_secs(300),
            login_timeout: Duration::from_secs(60),
            data_timeout: Duration::from_secs(30),
            max_sessions: 1000,
            max_line: oxftp_proto::line::DEFAULT_MAX_LINE,
            failed_login_delay: Duration::from_secs(1),
            max_login_failures: 3,
            shutdown_timeout: Duration::from_secs(30),
            tls: None,
            max_sessions_per_ip: 0,
            ip_rules: crate::account::IpRules::default(),
            ban: None,
            shared_state: None,
            download_rate: None,
            upload_rate: None,
            transfer_listeners: Vec::new(),
            metrics: None,
            event_sinks: Vec::new(),
            chmod_special_bits: false,
            upload_sweep_interval: Some(Duration::from_secs(3600)),
            max_prelogin_per_ip: 64,
            max_unknown_before_login: 3,
            max_tls_handshakes: 256,
            hash_bytes_per_session: 16 << 30,
            hash_anonymous: false,
        }
    }
}
