//! `cargo xtask verify` and `rotate-key` at scale: a cache of 10,000 narinfos (as many paths as a
//! large workspace's caches hold), signed by a key, checked as a directory and served by nginx on
//! loopback, the HTTP check held to [`OVER_FILE`] times the directory's; then its key rotated over
//! HTTP (every narinfo checked and signed by a new key, written back by PUT), held to
//! [`ROTATE_OVER_VERIFY`] times the HTTP check. The narinfos are put back as they were after each
//! rotation, so every round rotates the same cache.

use sha2::Digest;
use std::{path::Path, time::Instant};

use anyhow::{ensure, Context, Result};
use xshell::{cmd, Shell};
use xtask::{
    cache::{narinfo::nix32, roots::Manifest},
    record::Record,
};

use super::nginx::Nginx;

pub const PATHS: usize = 10_000;
/// HTTP's verify over the directory's.
pub const OVER_FILE: f64 = 3.0;
/// The rotation over HTTP over HTTP's verify.
pub const ROTATE_OVER_VERIFY: f64 = 3.0;

/// The NAR of a regular file holding `contents`.
fn nar(contents: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in [&b"nix-archive-1"[..], b"(", b"type", b"regular", b"contents", contents, b")"] {
        out.extend((s.len() as u64).to_le_bytes());
        out.extend(s);
        out.extend(std::iter::repeat_n(0, (8 - s.len() % 8) % 8));
    }
    out
}

/// Writes the cache into `www`: each path's NAR and narinfo, signed by `secret`, and one key's
/// manifest naming every path (HTTP, which cannot be listed, finds the narinfos from it); a copy
/// of the narinfos in `pristine`, to put back after a rotation.
pub fn cache(sh: &Shell, www: &Path, secret: &Path, pristine: &Path) -> Result<()> {
    std::fs::create_dir_all(www.join("nar"))?;
    std::fs::create_dir_all(www.join("xtask-roots"))?;
    std::fs::write(www.join("nix-cache-info"), "StoreDir: /nix/store\n")?;
    let mut roots = std::collections::BTreeSet::new();
    for n in 0..PATHS {
        let name = format!("bench-verify-{n}");
        let hash = nix32(&sha2::Sha256::digest(name.as_bytes())[..20]);
        let path = format!("/nix/store/{hash}-{name}");
        let nar = nar(format!("{n}\n").as_bytes());
        let sha = nix32(&sha2::Sha256::digest(&nar));
        std::fs::write(www.join(format!("nar/{sha}.nar")), &nar)?;
        let narinfo = format!(
            "StorePath: {path}\nURL: nar/{sha}.nar\nCompression: none\nFileHash: sha256:{sha}\nFileSize: {len}\n\
             NarHash: sha256:{sha}\nNarSize: {len}\nReferences: \n",
            len = nar.len()
        );
        std::fs::write(www.join(format!("{hash}.narinfo")), narinfo)?;
        roots.insert(path);
    }
    let url = format!("file://{}", www.display());
    let paths: Vec<&String> = roots.iter().collect();
    cmd!(sh, "nix store sign --store {url} --key-file {secret} {paths...}").quiet().run()?;
    let key = "bench-verify";
    let manifest = Manifest { key: key.to_owned(), updated: 0, roots };
    std::fs::write(www.join(format!("xtask-roots/{key}.json")), serde_json::to_vec(&manifest)?)?;
    std::fs::write(www.join("xtask-roots/index.json"), serde_json::to_vec(&[key])?)?;
    copy_narinfos(www, pristine)
}

/// Every narinfo of `from`, copied into `to`.
fn copy_narinfos(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "narinfo") {
            std::fs::copy(&path, to.join(path.file_name().unwrap_or_default()))?;
        }
    }
    Ok(())
}

/// What a round measures of the cache: `verify` as a directory and over HTTP, and the rotation of
/// its key over HTTP, in seconds.
pub struct Measured {
    pub file_s: f64,
    pub http_s: f64,
    pub rotate_s: f64,
}

/// `verify` of the cache as a directory, then over HTTP, each finding every narinfo sound and
/// signed by the key; then `rotate-key --new` over HTTP (in `workspace`, a copy of the config it
/// writes the new public key to), signing all of them; the narinfos put back after.
pub fn measure(sh: &Shell, nginx: &Nginx, keys: [&Path; 2], pristine: &Path, workspace: &Path) -> Result<Measured> {
    let exe = std::env::current_exe().context("cannot find the xtask binary")?;
    let record = workspace.join("record.json");
    let [old, new] = keys;
    let mut seconds = Vec::new();
    // Over HTTP, with the write credentials (the rotation writes).
    let http = nginx.url.replacen("http://", "http://bench:bench@", 1);
    for url in [format!("file://{}", nginx.www.display()), http.clone()] {
        let started = Instant::now();
        let out = cmd!(sh, "{exe} verify --cache {url} --signing-key {old} --record {record}")
            .quiet()
            .ignore_status()
            .output()?;
        seconds.push(started.elapsed().as_secs_f64());
        let verified = Record::read(&record).ok().and_then(|r| r.verify);
        let signed = verified.as_ref().and_then(|v| v.keys.first()).map(|k| k.signs);
        ensure!(
            out.status.success() && verified.map(|v| v.checked) == Some(PATHS as u64) && signed == Some(PATHS as u64),
            "`cargo xtask verify --cache {url}` did not find {PATHS} sound narinfos signed by the key:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _dir = sh.push_dir(workspace);
    let started = Instant::now();
    let out = cmd!(sh, "{exe} rotate-key --new {new} --cache {http} --signing-key {old} --record {record}")
        .quiet()
        .ignore_status()
        .output()?;
    let rotate_s = started.elapsed().as_secs_f64();
    let rotated = Record::read(&record).ok().and_then(|r| r.rotation);
    ensure!(
        out.status.success() && rotated.as_ref().map(|r| r.changed) == Some(PATHS as u64),
        "`cargo xtask rotate-key --new` over HTTP did not sign {PATHS} narinfos ({rotated:?}):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    copy_narinfos(pristine, &nginx.www)?;
    Ok(Measured { file_s: seconds[0], http_s: seconds[1], rotate_s })
}
