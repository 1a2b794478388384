//! The bench workspace (`xtask/tests/bench-flake`): a copy of it with its own salt (so cold is
//! cold), the host's Rust toolchain, and the crates `cargo vendor` fetched once; what a fresh
//! runner builds from it, and a fresh runner's store ([`FreshStore`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xshell::{cmd, Shell};
use xtask::nix::{Attr, Network};

use xtask::pipeline::fresh_runner::store::FreshStore;

/// Where `cargo vendor` puts the bench's crates, once (outside git: `target/` is ignored).
const VENDOR: &str = "target/bench-vendor";
const FIXTURE: &str = "xtask/tests/bench-flake";
/// How the images are streamed, shared with the example flake.
const STREAM_IMAGE: &str = "xtask/tests/example-flake/stream-image.nix";
const FILES: [&str; 6] = ["flake.nix", "Cargo.toml", "Cargo.lock", "rustfmt.toml", "src", "tests"];

/// The targets a CI run builds: the deps layer, the images, a check per test type (the app is
/// in its image).
fn targets() -> impl Iterator<Item = Attr> {
    let packages = ["deps", "harnessImage", "ollamaImage"].map(|name| Attr::package("x86_64-linux", name));
    packages.into_iter().chain(["unit", "integration", "clippy", "fmt"].map(|name| Attr::check("x86_64-linux", name)))
}

pub struct Workspace {
    pub flake: PathBuf,
    /// A fresh runner's store of the targets' derivations evaluated so far: after a change, the
    /// old outputs still refer to paths a fresh runner must not have.
    store: std::cell::RefCell<FreshStore>,
}

impl Workspace {
    /// A fresh copy of the bench flake in `dir`, ready to build.
    pub fn prepare(sh: &Shell, root: &Path, dir: &Path) -> Result<Workspace> {
        let vendor = root.join(VENDOR);
        if !vendor.exists() {
            let manifest = root.join(FIXTURE).join("Cargo.toml");
            eprintln!("vendoring the bench's crates into {} (once: it needs crates.io)", vendor.display());
            cmd!(sh, "cargo vendor --locked --manifest-path {manifest} {vendor}").ignore_stdout().run().with_context(|| {
                format!("cannot vendor the bench's crates: `cargo vendor` needs crates.io once; retry with network, or copy a vendored directory to {}", vendor.display())
            })?;
        }
        let flake = dir.join("flake");
        sh.create_dir(&flake)?;
        let files = FILES.map(|file| root.join(FIXTURE).join(file));
        cmd!(sh, "cp -r {files...} {flake}/").run()?;
        sh.copy_file(root.join(STREAM_IMAGE), &flake)?;
        let salt = format!("bench-{}-{:?}", std::process::id(), std::time::SystemTime::now());
        sh.write_file(flake.join("salt"), salt)?;
        let sysroot = cmd!(sh, "rustc --print sysroot").read().context("the bench builds with the host's rustc")?;
        sh.write_file(flake.join("toolchain"), format!("{sysroot}/bin"))?;
        sh.write_file(flake.join("vendor-dir"), vendor.display().to_string())?;
        sh.write_file(flake.join("vendor.nix"), vendor_hashes(sh, &vendor)?)?;
        Ok(Workspace { flake, store: FreshStore::new()?.into() })
    }

    pub fn installables(&self) -> Vec<String> {
        targets().map(|t| format!("{}#{t}", self.flake.display())).collect()
    }

    /// An app-only change, as a pull request makes.
    pub fn change_the_app(&self, sh: &Shell) -> Result<()> {
        let lib = self.flake.join("src/lib.rs");
        Ok(sh.write_file(&lib, sh.read_file(&lib)? + "\n// a pull request's change\n")?)
    }

    /// Deletes from the local store every output the targets need, now or before a change (not
    /// their sources and `.drv` files, which evaluation brings back): a fresh runner's store.
    pub fn fresh_runner(&self) -> Result<()> {
        let (attrs, net) = (targets().collect::<Vec<_>>(), Network { stall_secs: 30, netrc: None });
        let mut store = self.store.borrow_mut();
        store.add(&self.flake.display().to_string(), &attrs, &net)?;
        store.forget().context("cannot delete the bench's outputs")?;
        Ok(())
    }
}

/// `vendor.nix`: each crate directory's NAR hash, so each is a fixed-output `-source` path.
fn vendor_hashes(sh: &Shell, vendor: &Path) -> Result<String> {
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(vendor)?.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
    dirs.sort();
    let hashes = cmd!(sh, "nix hash path").args(&dirs).read().context("cannot hash the vendored crates")?;
    let crates = dirs.iter().map(|dir| dir.file_name().unwrap_or_default().to_string_lossy());
    let lines: String =
        crates.zip(hashes.lines()).map(|(name, hash)| format!("  \"{name}\" = \"{hash}\";\n")).collect();
    Ok(format!("{{\n{lines}}}\n"))
}
