//! The images run together (`cargo xtask smoke`): the harness reaches ollama by name on a
//! network of the run's own, and everything the run made goes on every exit (success, failure,
//! SIGTERM), nothing else: a maintainer's own `ollama` container, and a neighbour's network and
//! container under the names a PID alone would give, survive.

use std::{fs, process::Command};

use crate::support::{images::*, *};

fn docker(args: &[&str]) -> String {
    let out = run(Command::new("docker").args(args));
    assert!(out.status.success(), "docker {}: {}", args.join(" "), out.stderr);
    out.stdout
}

/// The containers, networks and volumes there are now (the smoke's show up by name, volumes by
/// count; the neighbour's are not the smoke's).
fn leftovers() -> (String, usize) {
    let made = docker(&["ps", "-a", "--filter", "name=xtask-smoke", "--format", "{{.Names}}"])
        + &docker(&["network", "ls", "--filter", "name=xtask-smoke", "--format", "{{.Name}}"]);
    let made = made
        .lines()
        .filter(|name| !["xtask-smoke-1", "xtask-smoke-1-ollama"].contains(name))
        .collect::<Vec<_>>()
        .join("\n");
    (made, docker(&["volume", "ls", "--quiet"]).lines().count())
}

/// The command as PID 1 of a new PID namespace (`unshare --pid --fork`), as in a container.
fn as_pid_1(cmd: &Command) -> Command {
    let mut wrapped = Command::new("unshare");
    wrapped.args(["--pid", "--fork", "--"]).arg(cmd.get_program()).args(cmd.get_args());
    for (name, value) in cmd.get_envs() {
        match value {
            Some(value) => wrapped.env(name, value),
            None => wrapped.env_remove(name),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped
}

/// The smoke of the images, waiting `wait` seconds for ollama.
fn smoke(ex: &Example, wait: &str) -> Command {
    ex.cmd(&["smoke", "--wait", wait])
}

/// One smoke after another, each a scenario of its own, on the images the first one built: a
/// smoke as PID 1 beside a neighbour, one whose ollama never answers, one cancelled.
#[test]
fn smoke_runs_the_images_together_and_leaves_nothing_behind() {
    needs!(Nix, Engine);
    let ex = Example::for_flake(runnable_flake("smoke"));
    let _one = smoke_lock();
    remove_what_an_earlier_run_of_this_test_left();
    a_neighbour_has_a_network_and_an_ollama_container_under_the_names_a_pid_alone_gives();
    a_smoke_as_pid_1_runs_the_images_together_and_leaves_nothing(&ex);

    // From here on a maintainer has a container of their own named `ollama` (the name the
    // harness reaches ollama by): the smokes below must neither trip over it nor remove it.
    docker(&["create", "--name", "ollama", "--label", "xtask-test=mine", "ollama:latest"]);
    let (_, volumes) = leftovers();
    // An ollama that never answers.
    let standin = ex.flake.join("../ollama-standin/src/main.rs");
    fs::write(standin, "fn main() { std::thread::sleep(std::time::Duration::from_secs(600)) }\n").unwrap();
    a_smoke_whose_ollama_never_answers_fails_shows_the_logs_and_leaves_nothing(&ex, volumes);
    a_cancelled_smoke_leaves_nothing(&ex, volumes);

    let mine = docker(&["ps", "-a", "--filter", "label=xtask-test=mine", "--format", "{{.Names}}"]);
    assert_eq!(mine.trim(), "ollama", "the maintainer's own `ollama` container is untouched");
    let theirs = docker(&["ps", "-a", "--filter", "label=xtask-test=neighbour", "--format", "{{.Names}}"]);
    assert_eq!(theirs.trim(), "xtask-smoke-1-ollama", "the neighbour's container is untouched");
    let network = docker(&["network", "ls", "--filter", "label=xtask-test=neighbour", "--format", "{{.Name}}"]);
    assert_eq!(network.trim(), "xtask-smoke-1", "the neighbour's network is untouched");
    docker(&["rm", "--force", "--volumes", "ollama", "xtask-smoke-1-ollama"]);
    docker(&["network", "rm", "xtask-smoke-1"]);
}

/// This test's own objects (labelled), left by an earlier run that failed; never another's.
fn remove_what_an_earlier_run_of_this_test_left() {
    for id in docker(&["ps", "-aq", "--filter", "label=xtask-test"]).lines() {
        docker(&["rm", "--force", id]);
    }
    for id in docker(&["network", "ls", "-q", "--filter", "label=xtask-test"]).lines() {
        docker(&["network", "rm", id]);
    }
    assert_eq!(leftovers().0, "", "an earlier smoke left these");
}

/// A neighbour on the same daemon (another job, in a PID namespace of its own, whose smoke is
/// PID 1): its network and its ollama container, under the names a PID alone would give.
fn a_neighbour_has_a_network_and_an_ollama_container_under_the_names_a_pid_alone_gives() {
    docker(&["network", "create", "--label", "xtask-test=neighbour", "xtask-smoke-1"]);
    let neighbour = ["--label", "xtask-test=neighbour", "--label", "xtask.smoke=1", "--name", "xtask-smoke-1-ollama"];
    docker(&[&["create"][..], &neighbour, &["--network", "xtask-smoke-1", "ollama:latest"]].concat());
}

/// This smoke runs as PID 1 of a PID namespace of its own, as the neighbour's did.
fn a_smoke_as_pid_1_runs_the_images_together_and_leaves_nothing(ex: &Example) {
    let before = leftovers();
    let out = run(&mut as_pid_1(&smoke(ex, "60"))).ok();
    // What the containers print is relayed to stderr.
    assert!(out.stderr.contains("0.0.0-standin"), "health named the server's version: {}", out.stderr);
    assert!(out.stderr.contains("standin:latest"), "models: {}", out.stderr);
    assert!(out.stderr.contains("stand-in heard: Why is the sky blue?"), "ask: {}", out.stderr);
    assert_eq!(leftovers(), before, "the smoke left containers, networks or volumes");
}

/// The smoke fails after its wait, shows the logs, cleans up.
fn a_smoke_whose_ollama_never_answers_fails_shows_the_logs_and_leaves_nothing(ex: &Example, volumes: usize) {
    let failed = run(&mut smoke(ex, "3")).failed();
    assert!(
        failed.stderr.contains("ollama did not answer") && failed.stderr.contains("--- logs of ollama"),
        "{}",
        failed.stderr
    );
    assert_eq!(leftovers(), (String::new(), volumes), "the failed smoke left containers, networks or volumes");
}

/// A cancelled job (SIGTERM) while ollama is up and the harness waits for it.
fn a_cancelled_smoke_leaves_nothing(ex: &Example, volumes: usize) {
    let mut child =
        smoke(ex, "120").stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    let started = std::time::Instant::now();
    let started_ollama = || {
        let names = docker(&["ps", "--all", "--filter", "name=xtask-smoke", "--format", "{{.Names}}"]);
        names.lines().any(|n| n.ends_with("-ollama") && n != "xtask-smoke-1-ollama")
    };
    while !started_ollama() {
        assert!(started.elapsed().as_secs() < 120, "the smoke never started its ollama container");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::into_raw(status) >> 8, 128 + libc::SIGTERM, "{status:?}");
    assert_eq!(leftovers(), (String::new(), volumes), "the cancelled smoke left containers, networks or volumes");
}
