//! `cargo xtask verify` at scale: a cache of 10,000 narinfos (as many paths as a large
//! workspace's caches hold), checked as a directory and served by nginx on loopback, the HTTP
//! check held to [`OVER_FILE`] times the directory's.

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
pub const OVER_FILE: f64 = 10.0;

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

/// Writes the cache into `www`: each path's NAR and narinfo, and one key's manifest naming every
/// path (HTTP, which cannot be listed, finds the narinfos from it).
pub fn cache(www: &Path) -> Result<()> {
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
    let key = "bench-verify";
    let manifest = Manifest { key: key.to_owned(), updated: 0, roots };
    std::fs::write(www.join(format!("xtask-roots/{key}.json")), serde_json::to_vec(&manifest)?)?;
    std::fs::write(www.join("xtask-roots/index.json"), serde_json::to_vec(&[key])?)?;
    Ok(())
}

/// `verify` of the cache as a directory, then over HTTP: the seconds of each, each finding every
/// narinfo sound.
pub fn measure(sh: &Shell, nginx: &Nginx, record: &Path) -> Result<(f64, f64)> {
    let exe = std::env::current_exe().context("cannot find the xtask binary")?;
    let mut seconds = Vec::new();
    for url in [format!("file://{}", nginx.www.display()), nginx.url.clone()] {
        let started = Instant::now();
        let out = cmd!(sh, "{exe} verify --cache {url} --record {record}").quiet().ignore_status().output()?;
        seconds.push(started.elapsed().as_secs_f64());
        let checked = Record::read(record).ok().and_then(|r| r.verify).map(|v| v.checked);
        ensure!(
            out.status.success() && checked == Some(PATHS as u64),
            "`cargo xtask verify --cache {url}` did not find {PATHS} sound narinfos:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok((seconds[0], seconds[1]))
}
