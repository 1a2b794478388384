//! `cargo xtask bench [--json FILE]`: the seed's metrics, measured with real Nix on the bench
//! workspace (`xtask/tests/bench-flake`, whose dependency layer compiles real crates) and a local
//! nginx HTTP cache. Each case starts from a fresh runner: the bench's outputs are deleted from the
//! local store (`nix store delete`), so the runner builds or fetches everything it needs.
//!
//! 1. cold: every target built with an empty cache;
//! 2. the CI jobs push (`warm`, `test --type T` for each type), then a no-op `warm`;
//! 3. warm: every target again, with the warmed cache;
//! 4. restore: the deps layer into an empty store, against a plain `nix copy --from` of its paths;
//! 5. PR: an app-only change; `status` says what a fresh runner would fetch and build, then every
//!    target is built, and the CI jobs push what changed.
//!
//! Public substituters are off (`substituters =`): nothing of the bench is in one, and asking
//! only measures the network. Builds run as the caller (`build-users-group =`), who can read the
//! host's Rust toolchain.

mod nginx;
mod results;
mod workspace;

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use self::{nginx::Nginx, results::Results, workspace::Workspace};
use serde_json::Value;

use crate::{pipeline::OWN_TIME, session::Session};

/// What `cargo xtask` runs before a task: a build of the xtask with its own profile.
const COMPILE: &str = "cargo build --package xtask --profile xtask --locked --offline";

/// Measure the seed's metrics on the bench workspace (real Nix, a local nginx cache).
#[derive(clap::Args, Debug)]
pub struct Bench {
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

impl Bench {
    pub fn run(&self, session: &Session) -> Result<()> {
        let base = std::env::temp_dir().join(format!("xtask-bench-{}", std::process::id()));
        if session.dry_run {
            println!("{}", describe(&base));
            return Ok(());
        }
        let sh = &session.sh;
        let nginx = Nginx::start(&base.join("nginx"), "bench", "bench")?;
        let nix_config = format!(
            "{}\nexperimental-features = nix-command flakes\nsubstituters =\nbuild-users-group =\nnetrc-file = {}",
            std::env::var("NIX_CONFIG").unwrap_or_default(),
            nginx.netrc.display()
        );
        let _env = sh.push_env("NIX_CONFIG", nix_config);
        let ws = Workspace::prepare(sh, &session.root, &base)?;
        let bench = Run::new(sh, ws, nginx, &base)?;
        let results = bench.measure(session)?;
        drop(bench);
        let _ = std::fs::remove_dir_all(&base);
        println!("{}", results.markdown());
        if let Some(file) = &self.json {
            sh.write_file(file, serde_json::to_string_pretty(&results.json())? + "\n")?;
        }
        results.check()
    }
}

fn describe(base: &std::path::Path) -> String {
    format!(
        "# cargo xtask bench (dry run: nothing is run)\n\
         # a copy of xtask/tests/bench-flake in {base}/flake, nginx serving {base}/nginx/www\n\
         nix store delete <the targets' outputs>   # before each build: a fresh runner\n\
         nix build --no-link --option substituters <nginx> <targets>   # cold, warm, PR\n\
         cargo xtask warm|test --type T --flake <copy> --cache <nginx> --signing-key <key>   # the CI jobs\n\
         nix build --store <empty> --max-jobs 0 <deps>; nix copy --from <nginx> --to <empty> <deps closure>   # restore\n\
         cargo xtask status --json --flake <copy> --cache <nginx>   # PR: hit rates\n\
         {COMPILE} --target-dir {base}/target-N   # the xtask's cold compile, median of three",
        base = base.display()
    )
}

/// One bench run: the workspace, the cache, the key the CI jobs sign with.
struct Run<'a> {
    sh: &'a Shell,
    ws: Workspace,
    nginx: Nginx,
    base: PathBuf,
    secret: PathBuf,
    public: String,
}

impl<'a> Run<'a> {
    fn new(sh: &'a Shell, ws: Workspace, nginx: Nginx, base: &std::path::Path) -> Result<Run<'a>> {
        let secret = base.join("key.secret");
        crate::files::create_private(
            &secret,
            cmd!(sh, "nix key generate-secret --key-name bench-1").read()?.as_bytes(),
        )?;
        let public = cmd!(sh, "nix key convert-secret-to-public").stdin(sh.read_file(&secret)?).read()?;
        Ok(Run { sh, ws, nginx, base: base.to_path_buf(), secret, public })
    }

    fn measure(&self, session: &Session) -> Result<Results> {
        // First, before Nix fills the page cache: what every CI job pays before its first task.
        let mut r = Results { compile_s: compile(self.sh, &session.root, &self.base)?, ..Results::default() };
        r.cold_s = self.runner_build()?;
        let before = self.nginx.bytes();
        r.own_s.extend(self.ci_jobs()?);
        r.pushed_bytes.push(("cold", self.nginx.bytes() - before));
        let (noop, own) = self.xtask(&["warm"])?;
        (r.noop_warm_s, r.pushed_bytes) = (noop, [r.pushed_bytes, vec![("no-op warm", 0)]].concat());
        r.own_s.push(own);
        r.warm_s = self.runner_build()?;
        (r.restore_s, r.restore_raw_s, r.restore_bytes) = self.restore()?;

        self.ws.change_the_app(self.sh)?;
        let status = self.status()?;
        r.hit_rate = status["hit_rate"].as_f64().unwrap_or_default();
        r.deps_hit_rate = status["deps_hit_rate"].as_f64().unwrap_or_default();
        r.to_build = status_to_build(&status);
        r.pr_s = self.runner_build()?;
        let before = self.nginx.bytes();
        r.own_s.extend(self.ci_jobs()?);
        r.pushed_bytes.push(("PR", self.nginx.bytes() - before));
        Ok(r)
    }

    /// A fresh runner builds every target, substituting from the cache (signatures required).
    fn runner_build(&self) -> Result<f64> {
        self.ws.fresh_runner(self.sh)?;
        let (sh, url, public, targets) = (self.sh, &self.nginx.url, &self.public, self.ws.installables());
        timed(|| {
            cmd!(sh, "nix build --no-link --option substituters {url} --option trusted-public-keys {public} {targets...}")
                .quiet()
                .ignore_stderr()
                .run()
                .context("a fresh runner's build failed (run `cargo xtask bench` again to see, or build the bench flake by hand)")
        })
    }

    /// The CI jobs of a push: `warm` (deps and images), then `test` for each type. Their own times.
    fn ci_jobs(&self) -> Result<Vec<f64>> {
        let mut own = vec![self.xtask(&["warm"])?.1];
        for test_type in ["unit", "integration", "clippy", "fmt"] {
            own.push(self.xtask(&["test", "--type", test_type])?.1);
        }
        Ok(own)
    }

    /// Runs this xtask on the bench's copy and cache: its wall time and its own time.
    fn xtask(&self, args: &[&str]) -> Result<(f64, f64)> {
        let exe = std::env::current_exe().context("cannot find the xtask binary")?;
        // zstd, as Cachix compresses: Nix's default xz takes most of a minute for the deps layer.
        let (flake, url, key) = (&self.ws.flake, format!("{}?compression=zstd", self.nginx.url), &self.secret);
        let started = Instant::now();
        let out = cmd!(self.sh, "{exe} {args...} --flake {flake} --cache {url} --signing-key {key}")
            .quiet()
            .ignore_status()
            .output()?;
        let wall = started.elapsed().as_secs_f64();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            bail!("`cargo xtask {}` failed in the bench:\n{stderr}", args.join(" "));
        }
        let own = stderr.lines().find_map(|l| l.strip_prefix(OWN_TIME)).and_then(|l| l.split('s').next());
        Ok((wall, own.and_then(|s| s.parse().ok()).unwrap_or_default()))
    }

    /// The deps layer into an empty store: substituted (what a runner does) and plainly copied.
    fn restore(&self) -> Result<(f64, f64, u64)> {
        let (sh, url, public) = (self.sh, &self.nginx.url, &self.public);
        let deps = format!("{}#packages.x86_64-linux.deps", self.ws.flake.display());
        cmd!(sh, "nix build --no-link {deps}").quiet().ignore_stderr().run()?;
        let out_path = cmd!(sh, "nix eval --raw {deps}.outPath").read()?;
        let infos =
            crate::nix::json::parse_path_infos(&cmd!(sh, "nix path-info --json --recursive {out_path}").read()?)?;
        let paths: Vec<&str> = infos.iter().map(|i| i.path.as_str()).collect();
        let bytes = infos.iter().map(|i| i.nar_size).sum();
        let (a, b) = (self.base.join("restore-store"), self.base.join("copy-store"));
        let restore = timed(|| {
            cmd!(sh, "nix build --no-link --max-jobs 0 --store {a} --option substituters {url} --option trusted-public-keys {public} {deps}")
                .quiet()
                .ignore_stderr()
                .run()
                .context("restoring the deps layer into an empty store failed")
        })?;
        let raw = timed(|| {
            cmd!(sh, "nix copy --no-check-sigs --from {url} --to {b} {paths...}")
                .quiet()
                .ignore_stderr()
                .run()
                .context("copying the deps layer into an empty store failed")
        })?;
        Ok((restore, raw, bytes))
    }

    fn status(&self) -> Result<Value> {
        let exe = std::env::current_exe()?;
        let (flake, url) = (&self.ws.flake, &self.nginx.url);
        let out = cmd!(self.sh, "{exe} status --json --flake {flake} --cache {url}").quiet().ignore_stderr().read()?;
        serde_json::from_str(&out).context("`cargo xtask status --json` printed no JSON")
    }
}

fn status_to_build(status: &Value) -> Vec<String> {
    let targets = status["targets"].as_array().into_iter().flatten();
    let names = targets.flat_map(|t| t["to_build"].as_array().into_iter().flatten().filter_map(Value::as_str));
    let mut names: Vec<String> = names.map(str::to_owned).collect();
    names.sort();
    names.dedup();
    names
}

/// The xtask's cold compile, as `cargo xtask` builds it in a CI job: the median of three, each
/// into an empty target directory (one build varies by a second on a shared 2-core machine).
fn compile(sh: &Shell, root: &std::path::Path, base: &std::path::Path) -> Result<f64> {
    let args: Vec<&str> = COMPILE.split(' ').skip(1).collect();
    let _dir = sh.push_dir(root);
    let mut times = Vec::new();
    for run in 0..3 {
        let (target_dir, args) = (base.join(format!("target-{run}")), &args);
        times.push(timed(|| {
            cmd!(sh, "cargo {args...} --target-dir {target_dir}")
                .quiet()
                .ignore_stderr()
                .run()
                .context("the xtask's build failed")
        })?);
        let _ = std::fs::remove_dir_all(&target_dir);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[1])
}

fn timed(f: impl FnOnce() -> Result<()>) -> Result<f64> {
    let started = Instant::now();
    f()?;
    Ok(Duration::as_secs_f64(&started.elapsed()))
}
