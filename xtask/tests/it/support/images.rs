//! What the image tests share: a real registry behind a proxy that counts the bytes pushed to it
//! (the bench's, one implementation), a flake whose images run, and a container engine.

pub use xtask_tools::bench::registry::Registry;

use std::{fs, path::PathBuf};

use super::repo_copy;

/// A copy of the repository whose example flake's images run real programs (the repository's
/// harness and the stand-in Ollama server, built by the host's cargo: `programs.nix`), with a
/// salt of its own; the example flake's directory in it. The xtask evaluates it as the
/// repository, as `nix build` does.
pub fn runnable_flake(name: &str) -> PathBuf {
    let repo = repo_copy(name);
    let flake = repo.join("xtask/tests/example-flake");
    fs::write(flake.join("salt"), format!("{name}-{}-{:?}", std::process::id(), std::time::Instant::now())).unwrap();
    flake
}

/// Containers, networks and volumes are counted: one smoke at a time.
pub fn smoke_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
