//! Command-line arguments.
//!
//! `oxftpd` alone serves the current directory read-only to anonymous users,
//! so trying it out takes no file at all; `--config` runs a real setup; two
//! subcommands help write that setup (`check-config`, `hash-password`).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Overrides;

/// oxftpd: an FTP server configured from one TOML file.
///
/// Without --config, serves the current directory (or --root) read-only to
/// anonymous users on 127.0.0.1:2121.
#[derive(Debug, Parser)]
#[command(name = "oxftpd", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do instead of serving.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Config file (see oxftpd.example.toml); relative paths in it are taken
    /// from its directory.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Listen on ADDR ("IP:PORT"; port 0 picks a free port). Repeat for
    /// several; replaces server.listen.
    #[arg(long = "listen", value_name = "ADDR")]
    pub listen: Vec<SocketAddr>,

    /// Serve DIR; replaces storage.root.
    #[arg(long = "root", value_name = "DIR")]
    pub root: Option<PathBuf>,
}

/// The subcommands.
#[derive(Debug, Subcommand, PartialEq, Eq)]
pub enum Command {
    /// Validate a config file (and the users file it names): prints "FILE: OK",
    /// or every problem with its line and key and exits non-zero.
    CheckConfig {
        /// The config file to check.
        file: PathBuf,
    },
    /// Print an argon2id hash for a users file's password_hash. Reads the
    /// password from stdin (one line) unless --password is given.
    HashPassword {
        /// The password (visible in the process list and shell history;
        /// prefer stdin outside scripts and tests).
        #[arg(long, value_name = "P")]
        password: Option<String>,
    },
}

impl Cli {
    /// The settings that replace config values.
    pub fn overrides(&self) -> Overrides {
        Overrides { listen: self.listen.clone(), root: self.root.clone() }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("oxftpd").chain(args.iter().copied()))
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn no_arguments_means_quick_serve() {
        let cli = parse(&[]).unwrap();
        assert_eq!((cli.command, cli.config, cli.root), (None, None, None));
        assert!(cli.listen.is_empty());
    }

    #[test]
    fn config_with_overrides() {
        let cli =
            parse(&["-c", "/etc/oxftpd.toml", "--listen", "127.0.0.1:0", "--listen", "[::1]:21", "--root", "srv"])
                .unwrap();
        assert_eq!(cli.config, Some(PathBuf::from("/etc/oxftpd.toml")));
        let overrides = cli.overrides();
        assert_eq!(overrides.listen, vec!["127.0.0.1:0".parse().unwrap(), "[::1]:21".parse().unwrap()]);
        assert_eq!(overrides.root, Some(PathBuf::from("srv")));
        assert_eq!(parse(&["--config", "x.toml"]).unwrap().config, Some(PathBuf::from("x.toml")));
    }

    #[test]
    fn listen_must_be_an_address() {
        let err = parse(&["--listen", "localhost"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
    }

    #[test]
    fn subcommands() {
        let cli = parse(&["check-config", "a.toml"]).unwrap();
        assert_eq!(cli.command, Some(Command::CheckConfig { file: PathBuf::from("a.toml") }));
        let cli = parse(&["hash-password"]).unwrap();
        assert_eq!(cli.command, Some(Command::HashPassword { password: None }));
        let cli = parse(&["hash-password", "--password", "pw"]).unwrap();
        assert_eq!(cli.command, Some(Command::HashPassword { password: Some("pw".into()) }));
        assert!(parse(&["check-config"]).is_err(), "check-config needs a file");
        assert!(
            parse(&["--config", "a.toml", "check-config", "b.toml"]).is_err(),
            "serve flags and subcommands don't mix"
        );
    }
}
