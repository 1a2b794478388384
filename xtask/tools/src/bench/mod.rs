//! `cargo xtask bench [--rounds N] [--json FILE]`: the seed's metrics, measured with real Nix on
//! the bench workspace (`xtask/tests/bench-flake`: its dependency layer compiles real crates, and
//! it evaluates in about a second, as a flake importing nixpkgs does) and a local nginx cache.
//! Every case is measured once per round ([`round`]), so the cases interleave, and each target
//! holds the median over the rounds ([`results`]): one slow moment of a busy machine neither
//! passes nor fails a target. What the xtask did is read from its records (`--record`). Public
//! substituters are off (nothing of the bench is in one: asking only measures the network), and
//! builds run as the caller (`build-users-group =`), who can read the host's Rust toolchain.

mod compile;
mod graph;
pub mod nginx;
mod pipeline;
pub mod registry;
mod report;
mod results;
mod round;
mod verify;
mod workspace;

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{ensure, Context, Result};
use xshell::{cmd, Shell};
use xtask::{record::Record, session::Session};

use self::{nginx::Nginx, registry::Registry, results::Results};

/// Measure the seed's metrics on the bench workspace (real Nix, a local nginx cache).
#[derive(clap::Args, Debug)]
pub struct Bench {
    /// How many rounds: every case is measured once per round, and targets hold the medians.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=9), value_name = "N")]
    rounds: u8,
    /// Also write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

impl Bench {
    /// Runs the rounds against a local nginx cache and registry, prints the results, and fails naming
    /// every target missed.
    pub fn run(&self, session: &Session, _record: &mut Record) -> Result<()> {
        let base = std::env::temp_dir().join(format!("xtask-bench-{}", std::process::id()));
        if session.dry_run {
            println!("{}", describe(&base, self.rounds));
            return Ok(());
        }
        let sh = &session.sh;
        let nginx = Nginx::start(&base.join("nginx"), "bench", "bench")?;
        let nix_config = format!(
            "{}\nexperimental-features = nix-command flakes\nsubstituters =\nbuild-users-group =\nextra-platforms =\nnetrc-file = {}",
            std::env::var("NIX_CONFIG").unwrap_or_default(),
            nginx.netrc.display()
        );
        // Every command of the bench's (the xtask's, through its runner, and the bench's own).
        std::env::set_var("NIX_CONFIG", nix_config);
        let registry = Registry::start(&base.join("registry"))?;
        // `verify` and `rotate-key` at scale: a cache of its own, served by a second nginx.
        let verifying = Nginx::start(&base.join("verify"), "bench", "bench")?;
        let mut bench = Run::new(sh, nginx, registry, &base, verifying)?;
        verify::cache(sh, &bench.verifying.www, &bench.secret, &base.join("verify/pristine"))?;
        // The config `rotate-key` writes its new public key to: a copy of the table, not the checkout's.
        let manifest = sh.read_file(session.root.join("Cargo.toml"))?;
        let table = manifest.find("[workspace.metadata.cache]").context("Cargo.toml has no cache table")?;
        sh.write_file(base.join("rotate/Cargo.toml"), format!("[workspace]\nmembers = []\n\n{}", &manifest[table..]))?;
        for lock in ["flake.lock", "Cargo.lock"] {
            sh.copy_file(session.root.join(lock), base.join("rotate"))?;
        }
        // The cache question at scale: each chain built and pushed once, asked in every round.
        for n in graph::SIZES {
            let flake = graph::flake(&base, n, &format!("{:?}", Instant::now()))?;
            eprintln!("=== bench: building a deps layer that needs {n} derivations");
            bench.xtask_on(&flake, &["warm-deps"], false)?;
            bench.graphs.push((n, flake));
        }
        let mut rounds = Vec::new();
        for n in 0..usize::from(self.rounds) {
            eprintln!("=== bench round {} of {}", n + 1, self.rounds);
            rounds.push(bench.round(session, n)?);
        }
        drop(bench);
        let _ = std::fs::remove_dir_all(&base);
        let results = Results { rounds };
        println!("{}", results.markdown());
        if let Some(file) = &self.json {
            sh.write_file(file, serde_json::to_string_pretty(&results.json())? + "\n")?;
        }
        results.check()
    }
}

fn describe(base: &Path, rounds: u8) -> String {
    format!(
        "# cargo xtask bench (dry run: nothing is run): {rounds} round(s), each case once per round, targets held to the medians\n\
         # each round: a copy of xtask/tests/bench-flake with its own salt in {base}/round-N, nginx serving {base}/nginx/www\n\
         {compile} --target-dir {base}/target   # and a floor crate (clap, anyhow, xshell), in turn\n\
         nix eval --raw <flake>#packages.x86_64-linux.deps.drvPath   # one evaluation\n\
         nix store delete <the targets' outputs>   # before each runner build: a fresh runner\n\
         nix build --no-link --option substituters <nginx> <targets>   # cold, warm, PR\n\
         cargo xtask warm|test --type T|status --flake <copy> --cache <nginx> --signing-key <key> --record <file>   # the CI jobs, read from their records\n\
         nix build --store <empty> --max-jobs 0 <deps output>; nix copy --no-check-sigs --from <nginx> --to <empty> <deps closure>   # restore, in turn\n\
         cargo xtask ci --event pull_request --skip smoke --flake <a second copy> --record <file> …   # the pipeline: cold, an app-only PR, a PR without change\n\
         cargo xtask verify --cache file://{base}/verify/www --signing-key <key>; cargo xtask verify --cache <nginx serving it> --signing-key <key>   # 10,000 signed narinfos, in turn\n\
         cargo xtask rotate-key --new {base}/verify-new.secret --cache <nginx serving it> --signing-key <key>   # in {base}/rotate, a copy of the config; the narinfos put back after\n\
         cargo xtask warm-deps --flake {base}/graph-N …   # an up-to-date deps layer that needs N = 300 and 3,000 derivations to build: the fresh-runner step's time",
        compile = compile::COMPILE,
        base = base.display()
    )
}

/// The bench's cache, registry and the key the CI jobs sign with.
struct Run<'a> {
    sh: &'a Shell,
    nginx: Nginx,
    registry: Registry,
    /// The cache of 10,000 narinfos `verify` checks.
    verifying: Nginx,
    base: PathBuf,
    secret: PathBuf,
    public: String,
    /// The flakes of [`graph`], by the length of their chain, cached.
    graphs: Vec<(usize, PathBuf)>,
}

/// How an xtask call went: its wall time and its record.
#[derive(Debug)]
struct Call {
    wall_s: f64,
    record: Record,
}

impl<'a> Run<'a> {
    fn new(sh: &'a Shell, nginx: Nginx, registry: Registry, base: &Path, verifying: Nginx) -> Result<Run<'a>> {
        let secret = base.join("key.secret");
        let generated = cmd!(sh, "nix key generate-secret --key-name bench-1").read()?;
        xtask::files::create_private(&secret, generated.as_bytes())?;
        let public = cmd!(sh, "nix key convert-secret-to-public").stdin(sh.read_file(&secret)?).read()?;
        Ok(Run { sh, nginx, registry, verifying, base: base.to_path_buf(), secret, public, graphs: Vec::new() })
    }

    /// Runs this xtask on a copy of the workspace and the bench's cache (with `actions`, as under
    /// GitHub Actions, with a job summary); its record.
    fn xtask_on(&self, flake: &Path, args: &[&str], actions: bool) -> Result<Call> {
        let exe = std::env::current_exe().context("cannot find the xtask binary")?;
        // zstd, as Cachix compresses: Nix's default xz takes most of a minute for the deps layer.
        let (url, key) = (format!("{}?compression=zstd", self.nginx.url), &self.secret);
        let file = self.base.join("record.json");
        let _ = std::fs::remove_file(&file);
        let mut call =
            cmd!(self.sh, "{exe} {args...} --flake {flake} --cache {url} --signing-key {key} --record {file}")
                .quiet()
                .ignore_status();
        if actions {
            call = call.env("GITHUB_ACTIONS", "true").env("GITHUB_STEP_SUMMARY", self.base.join("summary.md"));
        }
        let started = Instant::now();
        let out = call.output()?;
        let wall_s = started.elapsed().as_secs_f64();
        let said = String::from_utf8_lossy(&out.stderr);
        ensure!(out.status.success(), "`cargo xtask {}` failed in the bench:\n{said}", args.join(" "));
        let record =
            Record::read(&file).with_context(|| format!("`cargo xtask {}` wrote no record", args.join(" ")))?;
        Ok(Call { wall_s, record })
    }
}

fn timed(f: impl FnOnce() -> Result<()>) -> Result<f64> {
    let started = Instant::now();
    f()?;
    Ok(started.elapsed().as_secs_f64())
}

/// The times of `a` and `b`, `b` run first when `b_first` (so neither always runs first).
fn in_turn(b_first: bool, a: impl FnOnce() -> Result<f64>, b: impl FnOnce() -> Result<f64>) -> Result<(f64, f64)> {
    if b_first {
        let b = b()?;
        return Ok((a()?, b));
    }
    Ok((a()?, b()?))
}

/// The middle value (the upper of the two middles for an even count); 0 for none.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}
