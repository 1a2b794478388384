//! A container engine (docker, else podman): load an image archive, and run containers on a
//! network of their own, removed on every exit.

use anyhow::{Context, Result};

use crate::{
    command::{on_path, Cmd, Io},
    scratch::Undo,
};

/// docker, else podman.
pub fn find(needed_for: &str) -> Result<&'static str> {
    ["docker", "podman"].into_iter().find(|e| on_path(e)).with_context(|| {
        format!("{needed_for} needs docker or podman, and neither is installed: install one (Debian: apt-get install docker.io)")
    })
}

/// `ENGINE load -i ARCHIVE`.
pub fn load(engine: &str, archive: &std::path::Path) -> Cmd {
    Cmd::lits(engine, ["load", "-i", &archive.display().to_string()])
        .io(Io::Quiet)
        .hint("it loads the image into the engine")
}

/// The commands of one engine, for containers on a network of their own. Every object is made
/// with the run's label, and only objects with it are ever removed: a neighbour's container or
/// network of the same name (another job on the same daemon) is never touched.
pub struct Engine {
    /// The engine's program: `docker` or `podman`.
    pub program: &'static str,
    /// This run's id: unique on the daemon (a PID alone is not, in a PID namespace).
    pub run: String,
}

impl Engine {
    /// The engine, for a run with a new id.
    pub fn new(program: &'static str) -> Engine {
        Engine { program, run: crate::scratch::run_id().to_owned() }
    }

    /// `ENGINE ARGS…`, quiet.
    pub(crate) fn cmd<S: Into<String>>(&self, args: impl IntoIterator<Item = S>) -> Cmd {
        Cmd::lits(self.program, args).io(Io::Quiet)
    }

    /// The label every object of the run carries: what its removal looks for.
    fn label(&self) -> String {
        format!("xtask.smoke={}", self.run)
    }

    /// The run's network name.
    pub fn network(&self) -> String {
        format!("xtask-smoke-{}", self.run)
    }

    pub(crate) fn network_create(&self, network: &str) -> Cmd {
        self.cmd(["network", "create", "--label", &self.label(), network]).hint("it creates the containers' network")
    }

    /// A container started in the background as `name`, reached on `network` as `alias`, with an
    /// anonymous volume at `volume` (removed with the container).
    pub fn start(&self, network: &str, name: &str, alias: &str, image: &str, volume: &str) -> Cmd {
        let label = self.label();
        let args =
            ["run", "--detach", "--label", &label, "--name", name, "--network", network, "--network-alias", alias];
        self.cmd(args.into_iter().chain(["--volume", volume, image])).hint(format!("it starts {alias}"))
    }

    /// A container run to its end as `name` on `network`: its exit status is the command's.
    pub fn run(&self, network: &str, name: &str, image: &str, args: &[&str]) -> Cmd {
        let label = self.label();
        let all = ["run", "--rm", "--label", &label, "--name", name, "--network", network, image];
        let all = all.into_iter().chain(args.iter().copied());
        Cmd::lits(self.program, all).hint(format!("`{}` failed in its container (its output is above)", args.join(" ")))
    }

    /// What removes everything with the run's label, in order: its containers (with their
    /// anonymous volumes), whatever their names, then its networks.
    pub(crate) fn sweeps(&self) -> [Undo; 2] {
        let filter = format!("label={}", self.label());
        let containers = self.cmd(["ps", "--all", "--quiet", "--filter", &filter]);
        let networks = self.cmd(["network", "ls", "--quiet", "--filter", &filter]);
        [
            Undo { list: containers, remove: self.cmd(["rm", "--force", "--volumes"]) },
            Undo { list: networks, remove: self.cmd(["network", "rm"]) },
        ]
    }
}
