//! A cache the Actions cache carries (rollback mode): `verify --repair` under Actions deletes the
//! entry its copy was restored from, through GitHub's REST API (stood in for here by a server that
//! records the request), and says so in `repaired=true`, for the workflow to save the repaired
//! copy under the same key. The job's token reaches curl on its stdin, never a command line or the
//! log; without it, the repair is said to be this job's only.

use std::{
    fs,
    io::{Read, Write},
    net::TcpListener,
    path::Path,
    sync::mpsc,
    time::Duration,
};

use crate::support::*;

const TOKEN: &str = "ghs_actions-cache-t0k3n";

/// A stand-in for GitHub's API: answers one request with `status`, and hands its head over.
fn api(status: &'static str) -> (u16, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else { return };
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
            head.push(byte[0]);
        }
        let response = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let _ = stream.write_all(response.as_bytes());
        let _ = sender.send(String::from_utf8_lossy(&head).into_owned());
    });
    (port, receiver)
}

fn flip_a_nar(cache: &Path) {
    let info = narinfos(cache).into_iter().find(|i| i.store_path.ends_with("-cargo-deps")).unwrap();
    let nar = cache.join(&info.url);
    let mut bytes = fs::read(&nar).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    fs::write(&nar, bytes).unwrap();
}

/// `verify --repair` of `url` in `ws` under Actions, GitHub's API stood in for (its request
/// comes through the receiver), with the job's token when given.
fn repair_under_actions(ws: &Path, url: &str, output: &Path, token: Option<&str>) -> (Run, mpsc::Receiver<String>) {
    let (port, request) = api("200 OK");
    let mut cmd = xtask();
    cmd.current_dir(ws)
        .args(["verify", "--repair", "--cache", url])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_OUTPUT", output)
        .env("GITHUB_REPOSITORY", "owner/repo")
        .env("GITHUB_REF", "refs/heads/main")
        .env("GITHUB_API_URL", format!("http://127.0.0.1:{port}"));
    match token {
        Some(token) => cmd.env("GITHUB_TOKEN", token),
        None => cmd.env_remove("GITHUB_TOKEN"),
    };
    (run(&mut cmd), request)
}

#[test]
fn a_repair_under_actions_replaces_the_actions_cache_entry() {
    needs!(Nix);
    let ex = Example::new("actions-cache");
    let ws = workspace_with("actions-cache-ws", "");
    // The cache the Actions cache carries: the config's local-cache.
    let cache = ws.join("target/nix-cache");
    let manifest = fs::read_to_string(ws.join("Cargo.toml")).unwrap();
    let rollback = manifest.replacen("backend = \"cachix\"", "backend = \"actions-cache\"", 1);
    assert_ne!(manifest, rollback, "the config names its backend");
    fs::write(ws.join("Cargo.toml"), rollback).unwrap();
    let url = format!("file://{}", cache.display());
    run(&mut ex.cmd_on(&url, &["warm-deps"])).ok();
    let key = run(xtask().current_dir(&ws).args(["cache-key"])).ok().last_line().to_owned();
    assert!(key.starts_with("nix-v"), "{key}");

    flip_a_nar(&cache);
    let output = ex.dir.join("github-output");
    let (out, request) = repair_under_actions(&ws, &url, &output, Some(TOKEN));
    let out = out.ok();
    let head = request.recv_timeout(Duration::from_secs(10)).expect("the API was asked");
    let first = head.lines().next().unwrap_or_default();
    assert_eq!(first, format!("DELETE /repos/owner/repo/actions/caches?key={key}&ref=refs/heads/main HTTP/1.1"));
    assert!(head.lines().any(|l| l == format!("Authorization: Bearer {TOKEN}")), "{head}");
    assert!(!out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN), "the token was printed");
    assert_eq!(fs::read_to_string(&output).unwrap(), "repaired=true\n");
    run(xtask().current_dir(&ws).args(["verify", "--cache", &url])).ok();

    // Another cache (the one beside the flake) repaired under Actions: the Actions cache's entry
    // is not its to replace.
    run(&mut ex.cmd(&["warm-deps"])).ok();
    flip_a_nar(&ex.cache);
    fs::remove_file(&output).unwrap();
    let (out, asked) = repair_under_actions(&ws, &ex.url, &output, Some(TOKEN));
    out.ok();
    assert!(asked.recv_timeout(Duration::from_secs(1)).is_err(), "another cache's repair asked GitHub");
    assert!(!output.exists() || fs::read_to_string(&output).unwrap().is_empty(), "repaired=true for another cache");

    // Without the token: repaired here, GitHub not asked, and a warning that the Actions cache
    // still has the old entry.
    flip_a_nar(&cache);
    let (out, asked) = repair_under_actions(&ws, &url, &output, None);
    let out = out.ok();
    assert!(asked.recv_timeout(Duration::from_secs(1)).is_err(), "GitHub was asked without a token");
    assert!(out.stderr.contains("::warning::the repair is in this job's copy of the cache only"), "{}", out.stderr);
    assert!(!output.exists() || fs::read_to_string(&output).unwrap().is_empty(), "repaired=true without a deletion");
}
