//! What the image tests share: a real registry behind a proxy that counts the bytes pushed to it
//! (the bench's, one implementation), the programs the runnable images ship, and a container
//! engine.

pub use xtask_tools::bench::registry::Registry;

use std::{fs, path::PathBuf, process::Command, sync::OnceLock};

use super::{example_flake, require, run, workspace_root};

/// The workspace's real `harness` and the stand-in Ollama server, built by the host's cargo
/// (once), and the libraries they link (`ldd`), as the example flake ships them.
fn programs() -> &'static (PathBuf, PathBuf, String) {
    static PROGRAMS: OnceLock<(PathBuf, PathBuf, String)> = OnceLock::new();
    PROGRAMS.get_or_init(|| {
        let root = workspace_root();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let target = root.join("target/test-programs");
        // `cargo test --workspace` built the harness for its own tests; alone, these build it.
        let built = root.join("target/debug/harness");
        let harness = if built.is_file() {
            built
        } else {
            let build = run(Command::new(&cargo)
                .args(["build", "--locked", "--package", "harness", "--target-dir"])
                .arg(&target)
                .current_dir(&root));
            assert!(build.status.success(), "cannot build harness: {}", build.stderr);
            target.join("debug/harness")
        };
        let manifest = root.join("xtask/tests/ollama-standin/Cargo.toml");
        let standin = run(Command::new(&cargo)
            .args(["build", "--locked", "--manifest-path"])
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target));
        assert!(standin.status.success(), "cannot build the Ollama stand-in: {}", standin.stderr);
        let ollama = target.join("debug/ollama-standin");
        let mut libs = std::collections::BTreeSet::new();
        for program in [&harness, &ollama] {
            let ldd = run(Command::new("ldd").arg(program));
            libs.extend(ldd.stdout.split_whitespace().filter(|w| w.starts_with('/')).map(str::to_owned));
        }
        (harness, ollama, libs.into_iter().collect::<Vec<_>>().join(" "))
    })
}

/// A copy of the example flake whose images run real programs (`bin/`).
pub fn runnable_flake(name: &str) -> PathBuf {
    let flake = example_flake(name);
    let (harness, ollama, libs) = programs();
    fs::create_dir_all(flake.join("bin")).unwrap();
    fs::copy(harness, flake.join("bin/harness")).unwrap();
    fs::copy(ollama, flake.join("bin/ollama")).unwrap();
    fs::write(flake.join("bin/libs"), libs).unwrap();
    flake
}

/// Fails with how to start a container engine when none answers.
pub fn require_engine() {
    require("docker", "apt-get install -y docker.io");
    let info = run(Command::new("docker").arg("info"));
    assert!(
        info.status.success(),
        "no container engine answers: start one (`dockerd --iptables=false --bridge=none &`, as .ci/run does)\n{}",
        info.stderr
    );
}

/// Containers, networks and volumes are counted: one smoke at a time.
pub fn smoke_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
