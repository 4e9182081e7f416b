//! HELP (RFC 959 4.1.3) and FEAT (RFC 2389).
//!
//! Wire format: `HELP` → `214-` the commands we understand `214 ...` ·
//! `HELP <cmd>` → 214 with that command's syntax, 502 for an unknown one ·
//! `FEAT` → `211-Features:`, one feature per line (each indented one space),
//! `211 End`. FEAT is answered from the storage's capabilities so REST
//! STREAM and MFMT are only advertised when the backend can do them.

use oxftp_proto::command::{FEATURES_WITHOUT_VERB, Verb};
use oxftp_proto::reply::Reply;

use crate::session::Session;

impl Session {
    pub(crate) async fn cmd_help(&mut self, topic: Option<&str>) {
        match topic {
            None => {
                let mut lines = vec![b"The following commands are recognized:".to_vec()];
                for chunk in Verb::spellings().chunks(8) {
                    let row: Vec<String> = chunk.iter().map(|(name, _)| format!("{name:<5}")).collect();
                    lines.push(format!(" {}", row.join(" ")).into_bytes());
                }
                lines.push(b"Help OK.".to_vec());
                self.send(&Reply::multi(214, lines)).await;
            }
            Some(topic) => {
                let topic = topic.trim().to_ascii_uppercase();
                match Verb::from_upper(topic.as_bytes()) {
                    Some(verb) => self.reply(214, format!("Syntax: {}", verb.help(&topic))).await,
                    None => self.reply(502, format!("Unknown command {topic}.")).await,
                }
            }
        }
    }

    pub(crate) async fn cmd_feat(&mut self) {
        let caps = self.shared.storage.capabilities();
        let tls = self.tls.is_some();
        // Each verb's features, when this server offers the verb: MFMT and
        // REST STREAM only if the storage can, AUTH/PBSZ/PROT (RFC 4217 §6)
        // only with TLS.
        let offered = |verb: &Verb| match verb {
            Verb::Mfmt => caps.set_mtime,
            Verb::Rest => caps.read_at_offset,
            Verb::Auth | Verb::Pbsz | Verb::Prot => tls,
            _ => true,
        };
        let mut features: Vec<&str> = FEATURES_WITHOUT_VERB.to_vec();
        features.extend(Verb::ALL.iter().filter(|v| offered(v)).flat_map(|v| v.features()));
        features.sort_unstable();
        let mut lines = vec![b"Features:".to_vec()];
        lines.extend(features.iter().map(|f| format!(" {f}").into_bytes()));
        lines.push(b"End".to_vec());
        self.send(&Reply::multi(211, lines)).await;
    }
}
