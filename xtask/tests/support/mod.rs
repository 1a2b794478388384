//! Shared by the integration tests: the real xtask binary, real Nix, a real nginx.
//!
//! Replaced, because they cannot exist here: the Cachix service (its command line is tested, not
//! its server) and GitHub's runners (a chroot store stands in for a fresh runner; the workflow
//! commands and files are read back from temporary files).
#![allow(dead_code)]

use std::{
    collections::BTreeSet,
    fs,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A fresh directory outside the repository (Nix would read one inside as part of the git tree).
pub fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join("xtask-tests").join(format!("{name}-{}-{n}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Fails with the way to install a tool the test needs.
pub fn require(tool: &str, install: &str) {
    let found =
        std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()));
    assert!(found, "this test needs `{tool}`: {install} (or run `bash .ci/run`, which installs it)");
}

/// A PATH with cargo on it and nothing else (no nix, no cachix): the xtask still reads its config.
pub fn cargo_only_path() -> PathBuf {
    Path::new(&std::env::var("CARGO").unwrap()).parent().unwrap().to_path_buf()
}

pub fn require_nix() {
    require("nix", "apt-get install -y nix-bin");
}

/// Nix settings for every command of the tests: no public substituter (there is no network).
pub fn nix_config(extra: &str) -> String {
    format!("substituters =\nexperimental-features = nix-command flakes\n{extra}")
}

/// A copy of the example flake whose derivations are unique to this test (its own salt).
pub fn example_flake(name: &str) -> PathBuf {
    let dir = temp_dir(name).join("flake");
    fs::create_dir_all(&dir).unwrap();
    let fixture = workspace_root().join("xtask/tests/example-flake");
    for file in ["flake.nix", "flake.lock", "app", "stream-image.nix"] {
        fs::copy(fixture.join(file), dir.join(file)).unwrap();
    }
    let salt = format!("{name}-{}-{:?}", std::process::id(), Instant::now());
    fs::write(dir.join("salt"), salt).unwrap();
    dir
}

pub struct Run {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(self) -> Run {
        assert!(self.status.success(), "xtask failed\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    pub fn failed(self) -> Run {
        assert!(!self.status.success(), "xtask should have failed\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    pub fn last_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or_default()
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            status: o.status,
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// The xtask binary, run from the workspace root with the tests' Nix settings.
pub fn xtask() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.current_dir(workspace_root())
        .env("NIX_CONFIG", nix_config(""))
        // Nix remembers binary caches by URL (~/.cache/nix): a port another test's cache used
        // must not look like that cache.
        .env("XDG_CACHE_HOME", temp_dir("nix-cache-home"))
        .env_remove("CACHIX_AUTH_TOKEN")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_OUTPUT")
        .env_remove("GITHUB_STEP_SUMMARY")
        .stdin(Stdio::null());
    cmd
}

pub fn run(cmd: &mut Command) -> Run {
    cmd.output().expect("cannot start the command").into()
}

pub fn nix(args: &[&str]) -> Run {
    run(Command::new("nix").args(args).env("NIX_CONFIG", nix_config("")))
}

/// The store paths a binary cache directory holds (from its `.narinfo` files).
pub fn cached_paths(dir: &Path) -> BTreeSet<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return BTreeSet::new();
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "narinfo"))
        .map(|p| {
            let text = fs::read_to_string(&p).unwrap();
            text.lines().find_map(|l| l.strip_prefix("StorePath: ")).unwrap().to_owned()
        })
        .collect()
}

/// Every file of a directory with its size and modification time: to show nothing was written.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).into_iter().flatten() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                files.push((entry.path(), meta.len(), meta.modified().unwrap()));
            }
        }
    }
    files.sort();
    files
}

/// The output path of a flake attribute (evaluates; builds nothing).
pub fn out_path(flake: &Path, attr: &str) -> String {
    let run = nix(&["eval", "--raw", &format!("{}#{attr}.outPath", flake.display())]);
    assert!(run.status.success(), "{}", run.stderr);
    run.stdout
}

pub fn is_valid_in_store(path: &str) -> bool {
    nix(&["path-info", path]).status.success()
}

/// nginx serving a binary cache directory on 127.0.0.1: reads for anyone, writes (WebDAV PUT)
/// only with basic auth.
pub struct Nginx {
    child: Child,
    pub port: u16,
}

impl Nginx {
    pub fn start(dir: &Path, user: &str, password: &str) -> Nginx {
        require("nginx", "apt-get install -y nginx-light");
        let root = dir.join("www");
        fs::create_dir_all(&root).unwrap();
        fs::write(dir.join("htpasswd"), format!("{user}:{{PLAIN}}{password}\n")).unwrap();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let conf = format!(
            r#"
user root;
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body;
    client_max_body_size 0;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{
            dav_methods PUT DELETE;
            create_full_put_path on;
            limit_except GET HEAD {{
                auth_basic "binary cache";
                auth_basic_user_file {dir}/htpasswd;
            }}
        }}
    }}
}}
"#,
            dir = dir.display(),
            root = root.display(),
        );
        fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = Command::new("nginx")
            .args(["-p", &dir.display().to_string(), "-c", &dir.join("nginx.conf").display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start nginx");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not listen on {port}: {}",
                fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Nginx { child, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `[workspace.metadata.cache]` of the workspace, as `cargo metadata` reads it.
pub fn cache_config() -> serde_json::Value {
    let out = run(Command::new("cargo")
        .args(["metadata", "--no-deps", "--format-version", "1", "--offline"])
        .current_dir(workspace_root()));
    let metadata: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    metadata["metadata"]["cache"].clone()
}

/// The cache version of the workspace's config.
pub fn cache_version() -> u64 {
    cache_config()["version"].as_u64().unwrap()
}

/// The start of every deps key of the workspace: `cachix-v{version}-deps-`.
pub fn deps_prefix() -> String {
    format!("cachix-v{}-deps-", cache_version())
}

/// A workspace with the real config table and the given lock files.
pub fn workspace(name: &str, flake_lock: Option<&[u8]>, cargo_lock: Option<&[u8]>) -> std::path::PathBuf {
    let dir = temp_dir(name);
    let manifest = fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
    let table = &manifest[manifest.find("[workspace.metadata.cache]").unwrap()..];
    fs::write(dir.join("Cargo.toml"), format!("[workspace]\nmembers = []\n\n{table}")).unwrap();
    if let Some(bytes) = flake_lock {
        fs::write(dir.join("flake.lock"), bytes).unwrap();
    }
    if let Some(bytes) = cargo_lock {
        fs::write(dir.join("Cargo.lock"), bytes).unwrap();
    }
    dir
}

/// A server on 127.0.0.1 that answers every request with `response` (a whole HTTP response),
/// or, with `None`, accepts connections and never answers. Lives as long as the test.
pub fn fake_server(response: Option<&'static str>) -> u16 {
    use std::io::{Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            match response {
                Some(response) => {
                    let mut buf = [0u8; 8192];
                    let _ = stream.read(&mut buf);
                    let _ = stream.write_all(response.as_bytes());
                }
                None => held.push(stream),
            }
        }
    });
    port
}

/// A port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A workspace with the real config (plus `extra` lines in its table) and the real lock files.
pub fn workspace_with(name: &str, extra: &str) -> PathBuf {
    let root = workspace_root();
    let dir = workspace(
        name,
        Some(&fs::read(root.join("flake.lock")).unwrap()),
        Some(&fs::read(root.join("Cargo.lock")).unwrap()),
    );
    let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    let table = "[workspace.metadata.cache]\n";
    fs::write(dir.join("Cargo.toml"), manifest.replacen(table, &format!("{table}{extra}\n"), 1)).unwrap();
    dir
}

/// Deletes from the local store the outputs of a derivation and of every derivation it needs
/// (not the sources and `.drv` files, which evaluation brings back): a fresh runner's store.
pub fn delete_outputs(drv: &str) {
    let query = |extra: &[&str]| {
        let out = run(Command::new("nix-store").args(["--query", "--requisites"]).args(extra).arg(drv));
        assert!(out.status.success(), "{}", out.stderr);
        out.stdout.lines().map(str::to_owned).collect::<BTreeSet<_>>()
    };
    let outputs: Vec<String> = query(&["--include-outputs"]).difference(&query(&[])).cloned().collect();
    let deleted = run(Command::new("nix").args(["store", "delete"]).args(&outputs).env("NIX_CONFIG", nix_config("")));
    assert!(deleted.status.success(), "cannot delete {outputs:?}: {}", deleted.stderr);
}
