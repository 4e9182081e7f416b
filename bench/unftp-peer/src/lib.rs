//! What both bench servers take on the command line:
//! `--listen ADDR --root DIR --users FILE --passive-ports LOW-HIGH`.

use std::path::PathBuf;

/// One server's settings.
#[derive(Debug)]
pub struct Args {
    pub listen: String,
    pub root: PathBuf,
    /// unFTP's JSON users file (unftp-auth-jsonfile).
    pub users: PathBuf,
    pub passive: (u16, u16),
}

impl Args {
    /// From `std::env::args`, or the reason they do not make sense.
    pub fn parse() -> Result<Args, String> {
        let mut args = std::env::args().skip(1);
        let (mut listen, mut root, mut users, mut passive) = (None, None, None, None);
        while let Some(flag) = args.next() {
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            match flag.as_str() {
                "--listen" => listen = Some(value),
                "--root" => root = Some(PathBuf::from(value)),
                "--users" => users = Some(PathBuf::from(value)),
                "--passive-ports" => {
                    let (low, high) = value.split_once('-').ok_or("--passive-ports wants LOW-HIGH")?;
                    let port = |s: &str| s.parse::<u16>().map_err(|e| format!("--passive-ports {value}: {e}"));
                    passive = Some((port(low)?, port(high)?));
                }
                _ => return Err(format!("unknown option {flag}")),
            }
        }
        Ok(Args {
            listen: listen.ok_or("--listen is required")?,
            root: root.ok_or("--root is required")?,
            users: users.ok_or("--users is required")?,
            passive: passive.ok_or("--passive-ports is required")?,
        })
    }
}
