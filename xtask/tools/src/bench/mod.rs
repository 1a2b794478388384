//! `cargo xtask bench [--json FILE]`: the seed's metrics, measured with real Nix on the bench
//! workspace (`xtask/tests/bench-flake`: its dependency layer compiles real crates, and its
//! evaluation costs about a second, as a flake importing nixpkgs does) and a local nginx HTTP
//! cache. Each runner case starts from a fresh runner: the bench's outputs are deleted from the
//! local store, so the runner builds or fetches everything it needs. The cases and their order
//! are `Run::measure`'s; `--dry-run` describes them.
//!
//! Public substituters are off (`substituters =`): nothing of the bench is in one, and asking
//! only measures the network. Builds run as the caller (`build-users-group =`), who can read the
//! host's Rust toolchain.

mod calls;
mod compile;
pub mod nginx;
mod pipeline;
pub mod registry;
mod results;
mod workspace;

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use xshell::{cmd, Shell};

use self::{
    calls::{logging_nix, step_seconds},
    compile::median,
    nginx::Nginx,
    registry::Registry,
    results::{Job, Results},
    workspace::Workspace,
};
use xtask::{pipeline::OWN_TIME, session::Session};

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
            "{}\nexperimental-features = nix-command flakes\nsubstituters =\nbuild-users-group =\nextra-platforms =\nnetrc-file = {}",
            std::env::var("NIX_CONFIG").unwrap_or_default(),
            nginx.netrc.display()
        );
        let _env = sh.push_env("NIX_CONFIG", nix_config);
        let ws = Workspace::prepare(sh, &session.root, &base)?;
        let registry = Registry::start(&base.join("registry"))?;
        let bench = Run::new(sh, ws, nginx, registry, &base)?;
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

fn describe(base: &Path) -> String {
    format!(
        "# cargo xtask bench (dry run: nothing is run)\n\
         # a copy of xtask/tests/bench-flake in {base}/flake, nginx serving {base}/nginx/www\n\
         {compile} --target-dir {base}/target-N   # and a floor crate (clap, anyhow, xshell), alternating, median of three each\n\
         nix eval --raw <flake>#packages.x86_64-linux.deps.drvPath   # one evaluation, median of three\n\
         nix store delete <the targets' outputs>   # before each runner build: a fresh runner\n\
         nix build --no-link --option substituters <nginx> <targets>   # cold, warm, PR\n\
         cargo xtask warm|test --type T|status --flake <copy> --cache <nginx> --signing-key <key>   # the CI jobs, each call of nix logged\n\
         nix build --store <empty> --max-jobs 0 <deps output>; nix copy --no-check-sigs --from <nginx> --to <empty> <deps closure>   # restore, alternating, median of three\n\
         cargo xtask ci --event pull_request --skip smoke --flake <a second copy> …   # the pipeline: cold, an app-only PR, a PR without change",
        compile = compile::COMPILE,
        base = base.display()
    )
}

/// One bench run: the workspace, the cache, the key the CI jobs sign with, and a `nix` that logs
/// its calls (the evaluations a job makes).
struct Run<'a> {
    sh: &'a Shell,
    ws: Workspace,
    nginx: Nginx,
    registry: Registry,
    base: PathBuf,
    secret: PathBuf,
    public: String,
    logging_path: std::ffi::OsString,
}

/// How an xtask call went: its wall time, its own time, and how many times it evaluated the flake.
struct Call {
    wall_s: f64,
    own_s: f64,
    evaluations: usize,
    stdout: String,
    stderr: String,
}

impl<'a> Run<'a> {
    fn new(sh: &'a Shell, ws: Workspace, nginx: Nginx, registry: Registry, base: &Path) -> Result<Run<'a>> {
        let secret = base.join("key.secret");
        xtask::files::create_private(
            &secret,
            cmd!(sh, "nix key generate-secret --key-name bench-1").read()?.as_bytes(),
        )?;
        let public = cmd!(sh, "nix key convert-secret-to-public").stdin(sh.read_file(&secret)?).read()?;
        let logging_path = logging_nix(sh, &base.join("logging-bin"))?;
        Ok(Run { sh, ws, nginx, registry, base: base.to_path_buf(), secret, public, logging_path })
    }

    fn measure(&self, session: &Session) -> Result<Results> {
        // First, before Nix fills the page cache: what every CI job pays before its first task.
        let (compile_s, floor_s) = compile::measure(self.sh, &session.root, &self.base)?;
        let mut r = Results { compile_s, floor_s, eval_s: self.evaluation()?, ..Results::default() };
        r.cold_s = self.runner_build()?;
        let before = self.nginx.bytes();
        r.jobs.extend(self.ci_jobs("cold")?);
        r.pushed_bytes.push(("cold", self.nginx.bytes() - before));
        r.published_bytes.push(("cold", self.publish("cold")?));
        let noop = self.xtask(&["warm"], true)?;
        r.jobs.push(Job::of("no-op warm (GitHub Actions)", &noop));
        r.pushed_bytes.push(("no-op warm", 0));
        r.warm_s = self.runner_build()?;
        (r.restore_s, r.restore_raw_s, r.restore_bytes) = self.restore()?;

        self.ws.change_the_app(self.sh)?;
        let status = self.xtask(&["status", "--json"], false)?;
        r.status_fresh_runner_s = step_seconds(&status.stderr, "Ask what a fresh runner would fetch and build");
        r.jobs.push(Job::of("status (PR)", &status));
        let view: Value =
            serde_json::from_str(&status.stdout).context("`cargo xtask status --json` printed no JSON")?;
        r.hit_rate = view["hit_rate"].as_f64().unwrap_or_default();
        r.deps_hit_rate = view["deps_hit_rate"].as_f64().unwrap_or_default();
        r.to_build = to_build(&view);
        r.pr_s = self.runner_build()?;
        let before = self.nginx.bytes();
        r.jobs.extend(self.ci_jobs("PR")?);
        r.pushed_bytes.push(("PR", self.nginx.bytes() - before));
        r.published_bytes.push(("PR", self.publish("pr")?));
        r.pipelines = self.pipelines(session)?;
        Ok(r)
    }

    /// One evaluation of the bench flake (an attribute's derivation): the median of three.
    fn evaluation(&self) -> Result<f64> {
        let attr = format!("{}#packages.x86_64-linux.deps.drvPath", self.ws.flake.display());
        let times =
            (0..3).map(|_| timed(|| Ok(cmd!(self.sh, "nix eval --raw {attr}").quiet().ignore_stdout().run()?)));
        Ok(median(times.collect::<Result<_>>()?))
    }

    /// A fresh runner builds every target, substituting from the cache (signatures required).
    fn runner_build(&self) -> Result<f64> {
        self.ws.fresh_runner(self.sh)?;
        let (sh, url, public, targets) = (self.sh, &self.nginx.url, &self.public, self.ws.installables());
        timed(|| {
            let build = cmd!(
                sh,
                "nix build --no-link --option substituters {url} --option trusted-public-keys {public} {targets...}"
            );
            let out = build.quiet().ignore_status().output()?;
            if !out.status.success() {
                let said = String::from_utf8_lossy(&out.stderr);
                let tail: Vec<&str> = said.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect();
                anyhow::bail!("a fresh runner's build failed ({}):\n{}", out.status, tail.join("\n"));
            }
            Ok(())
        })
    }

    /// The CI jobs of a push: `warm` (deps and images), then `test` for each type.
    fn ci_jobs(&self, case: &str) -> Result<Vec<Job>> {
        let mut jobs = vec![Job::of(&format!("warm ({case})"), &self.xtask(&["warm"], false)?)];
        for test_type in ["unit", "integration", "clippy", "fmt"] {
            let call = self.xtask(&["test", "--type", test_type], false)?;
            jobs.push(Job::of(&format!("test --type {test_type} ({case})"), &call));
        }
        Ok(jobs)
    }

    /// The app's image pushed to the registry as a fresh runner does (skopeo's record of what
    /// registries hold is gone): the bytes it uploaded.
    fn publish(&self, tag: &str) -> Result<u64> {
        let _ = std::fs::remove_file("/var/lib/containers/cache/blob-info-cache-v1.boltdb");
        let (before, registry) = (self.registry.sent(), format!("{}/bench", self.registry.host));
        self.xtask(&["build-containers", "--image", "harness", "--push", &registry, "--tag", tag], false)?;
        Ok(self.registry.sent() - before)
    }

    /// Runs this xtask on the bench's copy and cache (with `actions`, as under GitHub Actions, with
    /// a job summary), through the logging `nix`.
    fn xtask(&self, args: &[&str], actions: bool) -> Result<Call> {
        self.xtask_on(&self.ws.flake, args, actions)
    }

    fn xtask_on(&self, flake: &Path, args: &[&str], actions: bool) -> Result<Call> {
        let exe = std::env::current_exe().context("cannot find the xtask binary")?;
        // zstd, as Cachix compresses: Nix's default xz takes most of a minute for the deps layer.
        let (url, key) = (format!("{}?compression=zstd", self.nginx.url), &self.secret);
        let log = self.base.join("nix-calls.log");
        let _ = std::fs::remove_file(&log);
        let mut call = cmd!(self.sh, "{exe} {args...} --flake {flake} --cache {url} --signing-key {key}")
            .env("PATH", &self.logging_path)
            .env("NIX_CALL_LOG", &log)
            .quiet()
            .ignore_status();
        if actions {
            call = call.env("GITHUB_ACTIONS", "true").env("GITHUB_STEP_SUMMARY", self.base.join("summary.md"));
        }
        let started = Instant::now();
        let out = call.output()?;
        let wall_s = started.elapsed().as_secs_f64();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            bail!("`cargo xtask {}` failed in the bench:\n{stderr}", args.join(" "));
        }
        let calls = std::fs::read_to_string(&log).unwrap_or_default();
        let evaluations = calls.lines().filter(|l| l.contains(&flake.display().to_string())).count();
        let own = stderr.lines().find_map(|l| l.strip_prefix(OWN_TIME)).and_then(|l| l.split('s').next());
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        Ok(Call { wall_s, own_s: own.and_then(|s| s.parse().ok()).unwrap_or_default(), evaluations, stdout, stderr })
    }

    /// The deps layer into an empty store, both ways from store paths (no evaluation): what a
    /// runner does (substitute, signatures checked) and a plain copy of the same paths (no
    /// signatures); alternating, each a median of three.
    fn restore(&self) -> Result<(f64, f64, u64)> {
        let (sh, url, public) = (self.sh, &self.nginx.url, &self.public);
        let deps = format!("{}#packages.x86_64-linux.deps", self.ws.flake.display());
        let out_path = cmd!(sh, "nix eval --raw {deps}.outPath").read()?;
        let json = xtask::nix::version::path_info_json();
        let infos =
            xtask::nix::json::parse_path_infos(&cmd!(sh, "nix path-info {json...} --recursive {out_path}").read()?)?;
        let paths: Vec<&str> = infos.iter().map(|i| i.path.as_str()).collect();
        let bytes = infos.iter().map(|i| i.nar_size).sum();
        let (mut substituted, mut copied) = (Vec::new(), Vec::new());
        for n in 0..3 {
            let (a, b) = (self.base.join(format!("restore-{n}")), self.base.join(format!("copy-{n}")));
            let substitute = || {
                let args = ["--option", "substituters", url, "--option", "trusted-public-keys", public.trim()];
                timed(|| {
                    Ok(cmd!(sh, "nix build --no-link --max-jobs 0 --store {a} {args...} {out_path}")
                        .quiet()
                        .ignore_stderr()
                        .run()?)
                })
            };
            let copy = || {
                let paths = &paths;
                timed(|| {
                    Ok(cmd!(sh, "nix copy --no-check-sigs --from {url} --to {b} {paths...}")
                        .quiet()
                        .ignore_stderr()
                        .run()?)
                })
            };
            if n % 2 == 0 {
                substituted.push(substitute()?);
                copied.push(copy()?);
            } else {
                copied.push(copy()?);
                substituted.push(substitute()?);
            }
        }
        Ok((median(substituted), median(copied), bytes))
    }
}

fn to_build(status: &Value) -> Vec<String> {
    let targets = status["targets"].as_array().into_iter().flatten();
    let names = targets.flat_map(|t| t["to_build"].as_array().into_iter().flatten().filter_map(Value::as_str));
    let mut names: Vec<String> = names.map(str::to_owned).collect();
    names.sort();
    names.dedup();
    names
}

fn timed(f: impl FnOnce() -> Result<()>) -> Result<f64> {
    let started = Instant::now();
    f()?;
    Ok(Duration::as_secs_f64(&started.elapsed()))
}
