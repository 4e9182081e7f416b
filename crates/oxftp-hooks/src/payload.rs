//! The one wire form of an event: a flat JSON object. Webhooks get it as the
//! request body, commands on stdin and, key by key, as `OXFTP_<KEY>`
//! environment variables. What is spooled is exactly these bytes, so a
//! redelivery after a restart sends the same body with the same id.

use std::time::UNIX_EPOCH;

use oxftp_core::events::Event;
use oxftp_proto::path::VPath;
use oxftp_proto::time::civil_from_unix;
use serde_json::{Map, Value};

/// The JSON body of `event`. Keys: `id`, `time` (RFC 3339, UTC), `kind`,
/// `protocol`, `user`, `peer` (IP), `peer_port`, `completed`, and when they
/// apply `path`, `storage_path`, `target`, `bytes`, `elapsed_ms`, `sha256`
/// (hex), `reason`. Paths that are not UTF-8 are written with U+FFFD in place
/// of the bad bytes.
pub(crate) fn to_json(event: &Event) -> Vec<u8> {
    let mut m = Map::new();
    m.insert("id".into(), event.id.clone().into());
    m.insert("time".into(), rfc3339(event.time).into());
    m.insert("kind".into(), event.kind.name().into());
    m.insert("protocol".into(), event.protocol.name().into());
    m.insert("user".into(), event.user.clone().into());
    m.insert("peer".into(), event.peer.ip().to_canonical().to_string().into());
    m.insert("peer_port".into(), event.peer.port().into());
    m.insert("completed".into(), event.completed.into());
    let path = |p: &Option<VPath>| p.as_ref().map(|p| Value::from(String::from_utf8_lossy(p.as_bytes()).into_owned()));
    let optional = [
        ("path", path(&event.path)),
        ("storage_path", path(&event.storage_path)),
        ("target", path(&event.target)),
        ("bytes", event.bytes.map(Value::from)),
        ("elapsed_ms", event.elapsed.map(|d| Value::from(d.as_millis() as u64))),
        ("sha256", event.sha256.map(|h| Value::from(hex(&h)))),
        ("reason", event.reason.clone().map(Value::from)),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            m.insert(key.into(), value);
        }
    }
    serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
}

/// The environment of a command hook: `OXFTP_<KEY>` for every scalar of the
/// body (`OXFTP_KIND=upload`, `OXFTP_PATH=/incoming/a.csv`, ...). `None` if
/// `body` is not a JSON object (a damaged spool file).
pub(crate) fn to_env(body: &[u8]) -> Option<Vec<(String, String)>> {
    let Value::Object(map) = serde_json::from_slice(body).ok()? else {
        return None;
    };
    let env = map
        .into_iter()
        .filter_map(|(key, value)| {
            let text = match value {
                Value::String(s) => s,
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            // Environment strings end at NUL; such a value could only be cut short.
            (!text.contains('\0')).then(|| (format!("OXFTP_{}", key.to_ascii_uppercase()), text))
        })
        .collect();
    Some(env)
}

/// `2026-12-03T12:34:56.789Z`.
fn rfc3339(time: std::time::SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (y, mo, d, h, mi, s) = civil_from_unix(since.as_secs() as i64);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z", since.subsec_millis())
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use oxftp_core::events::{EventKind, Protocol};

    use super::*;

    #[test]
    fn an_upload_event_round_trips_into_the_environment() {
        let mut event =
            Event::new(EventKind::Upload, Protocol::Ftps, "alice", "[::ffff:127.0.0.1]:40000".parse().unwrap())
                .with_path(VPath::parse(b"/in/a b.csv").unwrap(), VPath::parse(b"/alice/in/a b.csv").unwrap())
                .with_transfer(1234, Duration::from_millis(56))
                .with_sha256([0xab; 32]);
        event.time = UNIX_EPOCH + Duration::from_millis(1_764_765_296_789);
        let body = to_json(&event);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["kind"], "upload");
        assert_eq!(v["protocol"], "ftps");
        assert_eq!(v["peer"], "127.0.0.1");
        assert_eq!(v["path"], "/in/a b.csv");
        assert_eq!(v["storage_path"], "/alice/in/a b.csv");
        assert_eq!(v["bytes"], 1234);
        assert_eq!(v["elapsed_ms"], 56);
        assert_eq!(v["completed"], true);
        assert_eq!(v["time"], "2025-12-03T12:34:56.789Z");
        assert_eq!(v["sha256"], "ab".repeat(32));
        assert!(v.get("target").is_none() && v.get("reason").is_none());
        let env = to_env(&body).unwrap();
        let get = |k: &str| env.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("OXFTP_KIND"), Some("upload"));
        assert_eq!(get("OXFTP_PATH"), Some("/in/a b.csv"));
        assert_eq!(get("OXFTP_BYTES"), Some("1234"));
        assert_eq!(get("OXFTP_COMPLETED"), Some("true"));
        assert_eq!(get("OXFTP_ID"), Some(event.id.as_str()));
        assert!(to_env(b"not json").is_none());
        assert!(to_env(b"[1]").is_none());
    }

    #[test]
    fn hostile_names_stay_inside_their_json_string() {
        let event = Event::new(EventKind::Delete, Protocol::Ftp, "u\"\n", "127.0.0.1:1".parse().unwrap())
            .with_path(VPath::parse(b"/a\"\r\nb\xff").unwrap(), VPath::parse(b"/a").unwrap());
        let body = to_json(&event);
        assert!(!body.contains(&b'\n') && !body.contains(&b'\r'));
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["path"], "/a\"\r\nb\u{fffd}");
        assert_eq!(v["user"], "u\"\n");
    }
}
