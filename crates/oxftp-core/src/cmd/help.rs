//! HELP (RFC 959 4.1.3) and FEAT (RFC 2389), both read from the verb table
//! in oxftp-proto.

use oxftp_proto::command::{FEATURES_WITHOUT_VERB, Verb};
use oxftp_proto::reply::Reply;

use crate::conn::{Answered, Conn, HashAlgorithm};

/// `HELP` (RFC 959 4.1.3) → `214-` every command we understand, eight to a
/// line, `214 Help OK.` · `HELP <cmd>` → `214 Syntax: ...` · `502` for an
/// unknown command.
pub(crate) async fn help(conn: &mut Conn, topic: Option<&str>) -> Answered {
    match topic {
        None => {
            let mut lines = vec![b"The following commands are recognized:".to_vec()];
            for chunk in Verb::spellings().chunks(8) {
                let row: Vec<String> = chunk.iter().map(|(name, _)| format!("{name:<5}")).collect();
                lines.push(format!(" {}", row.join(" ")).into_bytes());
            }
            lines.push(b"Help OK.".to_vec());
            Ok(conn.send(&Reply::multi(214, lines)).await)
        }
        Some(topic) => {
            let topic = topic.trim().to_ascii_uppercase();
            match Verb::from_upper(topic.as_bytes()) {
                Some(verb) => Ok(conn.reply(214, format!("Syntax: {}", verb.help(&topic))).await),
                None => Err(conn.reply(502, format!("Unknown command {topic}.")).await),
            }
        }
    }
}

/// `FEAT` (RFC 2389 §3) → `211-Features:`, one feature per line (each
/// indented one space), `211 End`. A verb's features are listed only when
/// this server offers it: MFMT and REST STREAM when the storage can, AUTH,
/// PBSZ and PROT (RFC 4217 §6) when TLS is configured, HASH (with the
/// session's algorithm marked, draft-bryan-ftpext-hash-02) unless it is off.
pub(crate) async fn feat(conn: &mut Conn) -> Answered {
    let caps = conn.ctx.stack.capabilities();
    let tls = conn.tls.is_some();
    let offered = |verb: &Verb| match verb {
        Verb::Mfmt => caps.set_mtime,
        Verb::Rest => caps.read_at_offset,
        Verb::Auth | Verb::Pbsz | Verb::Prot => tls,
        Verb::Xcrc | Verb::Xmd5 | Verb::Xsha256 => conn.ctx.options.hash_bytes_per_session > 0,
        _ => true,
    };
    let mut features: Vec<String> = FEATURES_WITHOUT_VERB.iter().map(|f| f.to_string()).collect();
    features.extend(Verb::ALL.iter().filter(|v| offered(v)).flat_map(|v| v.features()).map(|f| f.to_string()));
    if conn.ctx.options.hash_bytes_per_session > 0 {
        features.push(HashAlgorithm::feat_line(conn.hash.algorithm));
    }
    features.sort_unstable();
    let mut lines = vec![b"Features:".to_vec()];
    lines.extend(features.iter().map(|f| format!(" {f}").into_bytes()));
    lines.push(b"End".to_vec());
    Ok(conn.send(&Reply::multi(211, lines)).await)
}
