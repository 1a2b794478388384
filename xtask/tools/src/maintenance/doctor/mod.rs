//! `cargo xtask doctor [--json]`: the seed's troubleshooting section as checks, one line each,
//! with the fix where one fails; warnings do not fail. Every check asks the code the tasks use,
//! and every command it runs is a [`Cmd`] value, so the dry run lists what a real run executes.

mod checks;

use anyhow::{ensure, Result};

use xtask::{keys::LOCK_FILES, record::Record, session::Session};

/// Check Nix, the lock files, the key, the cache name, the token, the substituter, the workflows.
#[derive(clap::Args, Debug)]
pub struct Doctor {
    /// Print the checks as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warn,
    Fail,
}

/// A check's result, its JSON fields in the order `--json` always printed them.
#[derive(serde::Serialize)]
struct Check {
    #[serde(rename = "check")]
    name: &'static str,
    detail: String,
    fix: String,
    status: Status,
}

fn ok(name: &'static str, detail: impl Into<String>) -> Check {
    Check { name, status: Status::Ok, detail: detail.into(), fix: String::new() }
}

fn warn(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check { name, status: Status::Warn, detail: detail.into(), fix: fix.into() }
}

fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check { name, status: Status::Fail, detail: detail.into(), fix: fix.into() }
}

/// The commands the checks run.
mod cmds {
    use xtask::command::Cmd;

    pub fn nix_version() -> Cmd {
        Cmd::lits("nix", ["--version"])
    }

    /// Nix's settings, with `nix-command` only: whether flakes are on is what is asked.
    pub fn nix_config() -> Cmd {
        let show = xtask::nix::version::config_show().iter().copied();
        Cmd::lits("nix", ["--extra-experimental-features", "nix-command"].into_iter().chain(show))
    }

    pub fn tracked(file: &str) -> Cmd {
        Cmd::lits("git", ["ls-files", "--error-unmatch", file])
    }

    pub fn unchanged(file: &str) -> Cmd {
        Cmd::lits("git", ["diff", "--quiet", "HEAD", "--", file])
    }

    pub fn committed(file: &str) -> Cmd {
        Cmd::lits("git", ["show".to_owned(), format!("HEAD:{file}")])
    }
}

impl Doctor {
    /// Runs every check and prints each, as a line or JSON; fails when one failed.
    pub fn run(&self, session: &Session, _record: &mut Record) -> Result<()> {
        if session.dry_run {
            println!("# cargo xtask doctor (dry run: nothing is run)");
            let lock_files = LOCK_FILES.iter().flat_map(|f| [cmds::tracked(f.name), cmds::unchanged(f.name)]);
            let committed = LOCK_FILES.iter().map(|f| cmds::committed(f.name));
            for cmd in [cmds::nix_version(), cmds::nix_config()].into_iter().chain(lock_files).chain(committed) {
                println!("{}", cmd.render(None));
            }
            return Ok(());
        }
        let checks = checks::all(session);
        if self.json {
            println!("{}", serde_json::to_string_pretty(&checks)?);
        } else {
            for c in &checks {
                let mark = match c.status {
                    Status::Ok => "ok  ",
                    Status::Warn => "warn",
                    Status::Fail => "FAIL",
                };
                let fix = if c.fix.is_empty() { String::new() } else { format!(" -> fix: {}", c.fix) };
                println!("{mark} {:<12} {}{fix}", c.name, c.detail);
            }
        }
        let failed: Vec<_> = checks.iter().filter(|c| c.status == Status::Fail).map(|c| c.name).collect();
        ensure!(failed.is_empty(), "doctor: {} check(s) failed: {}", failed.len(), failed.join(", "));
        Ok(())
    }
}
