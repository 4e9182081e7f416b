//! `oxftpd`: the oxftp FTP daemon, configured from one TOML file.
//!
//! main only dispatches: `cli` says what to do, `config` reads and checks the
//! file, `logging` builds the logger, `compose` turns the config into a
//! server, `serve` runs it, `password` serves `hash-password`.

mod admin;
mod cli;
mod compose;
mod logging;
mod notify;
mod password;
mod reload;
mod serve;
mod xferlog;

use std::path::Path;
use std::process::ExitCode;

use clap::Parser as _;
// The config module (and `privileges`, which it uses to look up `run_as`)
// live in the library target (src/lib.rs) so the fuzz targets can reach the
// parser; `crate::config` keeps naming them here.
use oxftpd::{config, privileges};

use crate::cli::{Cli, Command};
use crate::config::{Config, Overrides};
use crate::serve::Mode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::CheckConfig { file }) => check_config(file),
        Some(Command::HashPassword { password }) => hash_password(password.clone()),
        None => serve(&cli),
    }
}

/// `oxftpd check-config FILE`: "FILE: OK", or every problem and exit 1.
fn check_config(file: &Path) -> ExitCode {
    match Config::load(file, &Overrides::default()) {
        Ok(config) => match reach_storage(&config) {
            Ok(()) => {
                println!("{}: OK", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{}: {e:#}", file.display());
                ExitCode::FAILURE
            }
        },
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::FAILURE
        }
    }
}

/// Whether the configured storage answers (an object store is only
/// contacted here, not while loading the file).
fn reach_storage(config: &Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(compose::check_storage(config))
}

/// `oxftpd hash-password`: print the argon2id hash of one password.
fn hash_password(given: Option<String>) -> ExitCode {
    let hashed = password::read_password(given)
        .and_then(|pw| oxftp_auth_file::try_hash_password(&pw).map_err(|e| anyhow::anyhow!("cannot hash: {e}")));
    match hashed {
        Ok(hash) => {
            println!("{hash}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("oxftpd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Serve: from `--config`, or the quick anonymous read-only setup.
fn serve(cli: &Cli) -> ExitCode {
    let overrides = cli.overrides();
    let (loaded, mode) = match &cli.config {
        Some(file) => (Config::load(file, &overrides), Mode::Configured),
        None => (Config::quick(&overrides), Mode::Quick),
    };
    let config = match loaded {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    // Whether oxftpd may run as the user it is, decided before anything is
    // bound; a refusal is one line on stderr.
    let plan = match privileges::plan(&config, mode == Mode::Configured) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("oxftpd: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let logging = logging::logger(&config.log);
    let result = serve::run(&config, mode, plan, logging.logger.clone());
    if let Err(e) = &result {
        slog::crit!(logging.logger, "oxftpd failed"; "error" => format!("{e:#}"));
    }
    // Flush queued log records before the error line and the exit.
    drop(logging);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oxftpd: {e:#}");
            ExitCode::FAILURE
        }
    }
}
