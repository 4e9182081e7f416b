//! How many browser connections may be open: in all, and per client address.
//!
//! The web listener shares its process, and so its file descriptors, with the
//! FTP listeners of the daemon that embeds it: a flood of idle HTTP
//! connections must not use up the descriptors FTP logins need. Each
//! accepted connection takes a [`ConnectionPermit`] before anything else
//! happens (the TLS handshake included) and gives it back when it closes; a
//! connection that gets none is closed at once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::client::limit_key;
use crate::stats::Refusal;

/// The open-connection counts of one listener.
#[derive(Debug)]
pub(crate) struct ConnectionGate {
    max: usize,
    per_ip: usize,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

impl ConnectionGate {
    /// A gate for at most `max` connections, `per_ip` of them from one address.
    pub(crate) fn new(max: usize, per_ip: usize) -> Arc<ConnectionGate> {
        Arc::new(ConnectionGate { max: max.max(1), per_ip: per_ip.max(1), counts: Mutex::default() })
    }

    /// A permit for one more connection from `ip`, or which limit refuses it.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionPermit, Refusal> {
        let key = limit_key(ip);
        let mut counts = self.counts.lock().map_err(|_| Refusal::ConnectionsFull)?;
        if counts.total >= self.max {
            return Err(Refusal::ConnectionsFull);
        }
        let from_ip = counts.by_ip.entry(key).or_insert(0);
        if *from_ip >= self.per_ip {
            return Err(Refusal::ConnectionsPerIp);
        }
        *from_ip += 1;
        counts.total += 1;
        Ok(ConnectionPermit { gate: self.clone(), key })
    }

    /// Connections open now.
    pub(crate) fn open(&self) -> usize {
        self.counts.lock().map(|c| c.total).unwrap_or(0)
    }
}

/// One open connection's place; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct ConnectionPermit {
    gate: Arc<ConnectionGate>,
    key: IpAddr,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let Ok(mut counts) = self.gate.counts.lock() else { return };
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.by_ip.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.by_ip.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_in_all_and_per_address() {
        let gate = ConnectionGate::new(5, 2);
        let a = IpAddr::from([192, 0, 2, 1]);
        let b = IpAddr::from([192, 0, 2, 2]);
        let a1 = gate.admit(a).unwrap();
        let _a2 = gate.admit(a).unwrap();
        assert_eq!(gate.admit(a).unwrap_err(), Refusal::ConnectionsPerIp);
        drop(a1);
        let _a3 = gate.admit(a).unwrap();
        let others: Vec<_> = (3..6).map(|i| gate.admit(IpAddr::from([192, 0, 2, i])).unwrap()).collect();
        assert_eq!(gate.admit(b).unwrap_err(), Refusal::ConnectionsFull);
        assert_eq!(gate.open(), 5);
        drop(others);
        assert_eq!(gate.open(), 2);
        assert!(gate.admit(b).is_ok());
        assert_eq!(gate.counts.lock().unwrap().by_ip.len(), 1, "closed addresses are forgotten");
    }
}
