//! A container engine (docker, else podman): load an image archive, and run containers on a
//! network of their own, removed on every exit.

use anyhow::{bail, Result};

use crate::command::{on_path, Cmd, Io};

/// docker, else podman.
pub fn find(needed_for: &str) -> Result<&'static str> {
    match ["docker", "podman"].into_iter().find(|e| on_path(e)) {
        Some(engine) => Ok(engine),
        None => bail!("{needed_for} needs docker or podman, and neither is installed: install one (Debian: apt-get install docker.io)"),
    }
}

/// `ENGINE load -i ARCHIVE`.
pub fn load(engine: &str, archive: &std::path::Path) -> Cmd {
    Cmd::lits(engine, ["load", "-i", &archive.display().to_string()])
        .io(Io::Quiet)
        .hint("it loads the image into the engine")
}

/// The commands of one engine, for containers on a network of their own.
pub struct Engine {
    pub program: &'static str,
}

impl Engine {
    fn cmd<S: Into<String>>(&self, args: impl IntoIterator<Item = S>) -> Cmd {
        Cmd::lits(self.program, args).io(Io::Quiet)
    }

    pub fn network_create(&self, network: &str) -> Cmd {
        self.cmd(["network", "create", network]).hint("it creates the containers' network")
    }

    pub fn network_remove(&self, network: &str) -> Cmd {
        self.cmd(["network", "rm", network])
    }

    /// A container started in the background as `name`, reached on `network` as `alias`, with an
    /// anonymous volume at `volume` (removed with the container).
    pub fn start(&self, network: &str, name: &str, alias: &str, image: &str, volume: &str) -> Cmd {
        let args = ["run", "--detach", "--name", name, "--network", network, "--network-alias", alias];
        self.cmd(args.into_iter().chain(["--volume", volume, image])).hint(format!("it starts {alias}"))
    }

    /// A container run to its end as `name` on `network`: its exit status is the command's.
    pub fn run(&self, network: &str, name: &str, image: &str, args: &[&str]) -> Cmd {
        let all = ["run", "--rm", "--name", name, "--network", network, image].into_iter().chain(args.iter().copied());
        Cmd::lits(self.program, all).hint(format!("`{}` failed in its container (its output is above)", args.join(" ")))
    }

    pub fn logs(&self, name: &str) -> Cmd {
        self.cmd(["logs", name])
    }

    /// The container and its anonymous volumes.
    pub fn remove(&self, name: &str) -> Cmd {
        self.cmd(["rm", "--force", "--volumes", name])
    }
}
