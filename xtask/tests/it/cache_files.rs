//! A cache's files as a hostile cache or neighbour leaves them: a link where a directory was, a
//! size that is the largest number there is, a dump that never ends; a cache that takes PUT but
//! not DELETE. Nothing outside the cache is written or deleted, nothing panics or hangs.

use std::{
    fs,
    path::Path,
    process::Stdio,
    time::{Duration, Instant},
};

use crate::support::*;

/// Every file under `dir`, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    snapshot(dir).into_iter().map(|(p, _, _)| (p.display().to_string(), fs::read(&p).unwrap())).collect()
}

#[test]
fn links_in_a_cache_are_never_followed() {
    needs!(Nix);
    let ex = Example::in_workspace("links", "");
    let (dir, flake, cache) = (&ex.dir, &ex.flake, &ex.cache);
    let warm = || run(&mut ex.cmd(&["warm-deps"]));
    warm().ok();
    // A second key, so that gc has a generation to delete.
    fs::write(dir.join("Cargo.lock"), fs::read_to_string(dir.join("Cargo.lock")).unwrap() + "\n").unwrap();
    fs::write(flake.join("salt"), "another generation\n").unwrap();
    warm().ok();

    // nar/ moved out of the cache, a link left in its place.
    let outside = dir.join("outside");
    fs::create_dir_all(&outside).unwrap();
    fs::rename(cache.join("nar"), outside.join("nar")).unwrap();
    std::os::unix::fs::symlink(outside.join("nar"), cache.join("nar")).unwrap();
    let before = files(&outside);
    let gc = run(&mut ex.cache_cmd(&["gc", "--keep", "1", "--grace", "0"])).failed();
    assert!(gc.stderr.contains("nar is a symbolic link"), "{}", gc.stderr);
    assert_eq!(files(&outside), before, "gc deleted or wrote through the link");
    fs::write(flake.join("salt"), "a third generation\n").unwrap();
    let pushed = warm().failed();
    assert!(pushed.stderr.contains("never followed"), "{}", pushed.stderr);
    assert_eq!(files(&outside), before, "a push wrote through the link");

    // The same for xtask-roots/: the manifests and the lock stay inside the cache.
    fs::remove_file(cache.join("nar")).unwrap();
    fs::rename(outside.join("nar"), cache.join("nar")).unwrap();
    fs::rename(cache.join("xtask-roots"), outside.join("xtask-roots")).unwrap();
    std::os::unix::fs::symlink(outside.join("xtask-roots"), cache.join("xtask-roots")).unwrap();
    let before = files(&outside);
    let pushed = warm().failed();
    assert!(pushed.stderr.contains("never followed"), "{}", pushed.stderr);
    assert_eq!(files(&outside), before, "a push wrote its manifest or lock through the link");
}

#[test]
fn numbers_and_dumps_from_outside_neither_panic_nor_hang() {
    let dir = temp_dir("numbers");
    let cache = dir.join("cache");
    fs::create_dir_all(&cache).unwrap();
    fs::write(cache.join("nix-cache-info"), "StoreDir: /nix/store\n").unwrap();
    for hash in ["0000000000000000000000000000000a", "0000000000000000000000000000000b"] {
        let narinfo = format!(
            "StorePath: /nix/store/{hash}-huge\nURL: nar/{hash}.nar.zst\nCompression: zstd\nFileHash: sha256:{hash}\n\
             FileSize: 18446744073709551615\nNarHash: sha256:{hash}\nNarSize: 18446744073709551615\nReferences: \n"
        );
        fs::write(cache.join(format!("{hash}.narinfo")), narinfo).unwrap();
    }
    let url = format!("file://{}", cache.display());
    let (gc, record) = recorded(
        xtask().current_dir(workspace_with("numbers", "")).args(["gc", "--keep", "1", "--grace", "0", "--cache", &url]),
    );
    gc.ok();
    let collected = record.gc.unwrap();
    assert_eq!((collected.deleted, collected.freed_bytes), (2, u64::MAX), "{collected:#?}");

    let dump = dir.join("dump.json");
    let entry = |n: u32| {
        format!(
            r#"{{"path":"/nix/store/{n:032}-x","narHash":"sha256-h","narSize":18446744073709551610,"references":["/nix/store/{:032}-x"]}}"#,
            (n + 1) % 2
        )
    };
    fs::write(&dump, format!("[{},{}]", entry(0), entry(1))).unwrap();
    run(tools().args(["analytics", "--path-info", &dump.display().to_string()])).ok();

    // A dump that never ends, and one that never comes: refused at once.
    let fifo = dir.join("fifo");
    let c = std::ffi::CString::new(fifo.display().to_string()).unwrap();
    // SAFETY: a path this test owns, NUL-terminated.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    for input in [Path::new("/dev/zero"), fifo.as_path()] {
        let started = Instant::now();
        let mut child = tools()
            .args(["analytics", "--path-info", &input.display().to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                panic!("analytics --path-info {} hangs", input.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = Run::from(child.wait_with_output().unwrap()).failed();
        assert!(out.stderr.contains("not a regular file"), "{}: {}", input.display(), out.stderr);
    }
}

#[test]
fn a_cache_that_takes_no_delete_takes_pushes_and_refuses_gc() {
    needs!(Nix);
    let flake = example_flake("put-only");
    let dir = workspace_with("put-only", "");
    let nginx = Nginx::start_with(&dir.join("nginx"), "ci", "s3cret", "PUT").unwrap();
    let config = nix_config(&format!("netrc-file = {}", nginx.netrc.display()));
    let task = |args: &[&str]| {
        let mut cmd = xtask();
        cmd.current_dir(&dir).args(args).args(["--cache", &nginx.url]).env("NIX_CONFIG", &config);
        recorded(&mut cmd)
    };
    let (out, record) = task(&["warm-deps", "--flake", &flake.display().to_string()]);
    let out = out.ok();
    assert!(record.pushed.paths > 0, "{:#?}", record.pushed);
    assert!(out.stderr.contains("takes PUT but not DELETE: pushes need no lock there"), "{}", out.stderr);
    let (gc, _) = task(&["gc", "--keep", "1"]);
    let gc = gc.failed();
    assert!(gc.stderr.contains("gc deletes, and") && gc.stderr.contains("takes no DELETE"), "{}", gc.stderr);
}

/// Two paths of the same contents share one NAR file: an HTTP cache is asked its size once, and
/// answers for both.
#[test]
fn a_nar_file_two_paths_share_is_sized_once_over_http() {
    needs!(Nginx);
    let dir = temp_dir("shared-nar");
    let nginx = nginx(&dir.join("nginx"), "ci", "s3cret");
    fs::create_dir_all(nginx.www.join("nar")).unwrap();
    fs::write(nginx.www.join("nar/shared.nar"), b"12345").unwrap();
    let http = xtask::cache::files::Http {
        base: nginx.url.trim_end_matches('/').to_owned(),
        timeout: 30,
        netrc: xtask::cache::files::Netrc::Nix(Default::default()),
    };
    let sizes =
        xtask::cache::files::Files::Http(http).sizes(&["nar/shared.nar", "nar/shared.nar", "nar/absent.nar"]).unwrap();
    assert_eq!(sizes.get("nar/shared.nar"), Some(&Some(5)), "{sizes:?}");
    assert_eq!(sizes.get("nar/absent.nar"), Some(&None), "{sizes:?}");
}
