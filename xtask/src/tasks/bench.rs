//! `cargo xtask bench [--runs N]`: the speed targets, measured with this binary and real Nix on
//! the example flake (xtask/tests/example-flake). Each run gets a fresh copy (its own salt, so
//! nothing is in the store or the cache yet):
//!
//! - cold `warm`: evaluate, build, push into an empty `file://` cache;
//! - `warm` again: nothing to do. Target: about a second (it fails above 2 s);
//! - `cache-key`;
//! - the xtask's own cold compile (every CI job pays it first). Target: at most 10 s.
//!
//! Public substituters are turned off for the runs (`substituters =`): the example's paths are in
//! no public cache, and asking one only measures the network.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use xshell::cmd;

use crate::context::Ctx;

const UP_TO_DATE_TARGET: Duration = Duration::from_secs(2);
const COMPILE_TARGET: Duration = Duration::from_secs(10);

/// Measure the speed targets against the example flake (real Nix).
#[derive(clap::Args, Debug)]
pub struct Bench {
    /// How many fresh runs.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

impl Bench {
    pub fn run(&self, ctx: &Ctx) -> Result<()> {
        run(ctx, self.runs)
    }
}

fn run(ctx: &Ctx, runs: usize) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find the xtask binary")?;
    let fixture = ctx.root.join("xtask/tests/example-flake");
    let base = std::env::temp_dir().join(format!("xtask-bench-{}", std::process::id()));
    let target_dir = base.join("target");
    if ctx.dry_run {
        println!("# cargo xtask bench (dry run): per run, a fresh copy of {} in {}", fixture.display(), base.display());
        println!("{} warm --flake <copy> --cache file://<empty dir>   # cold", exe.display());
        println!("{} warm --flake <copy> --cache file://<same dir>    # up to date", exe.display());
        println!("{} cache-key", exe.display());
        println!("{COMPILE} --target-dir {}   # cold compile, as `cargo xtask` builds", target_dir.display());
        return Ok(());
    }
    let sh = &ctx.sh;
    let nix_config = format!("{}\nsubstituters =", std::env::var("NIX_CONFIG").unwrap_or_default());
    let _env = sh.push_env("NIX_CONFIG", nix_config);
    let (mut cold, mut again, mut key) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs.max(1) {
        let dir = base.join(format!("run-{i}"));
        let flake = dir.join("flake");
        sh.create_dir(&flake)?;
        for file in ["flake.nix", "flake.lock"] {
            sh.copy_file(fixture.join(file), &flake)?;
        }
        sh.write_file(flake.join("salt"), format!("bench-{}-{i}-{:?}", std::process::id(), Instant::now()))?;
        let cache = format!("file://{}", dir.join("cache").display());
        let warm = cmd!(sh, "{exe} warm --flake {flake} --cache {cache}").quiet().ignore_stdout().ignore_stderr();
        cold.push(time(|| warm.run())?);
        again.push(time(|| warm.run())?);
        key.push(time(|| cmd!(sh, "{exe} cache-key").quiet().ignore_stdout().run())?);
    }
    let compile_args: Vec<&str> = COMPILE.split(' ').skip(1).collect();
    let compile = time(|| cmd!(sh, "cargo {compile_args...} --target-dir {target_dir}").quiet().ignore_stderr().run())?;
    sh.remove_path(&base)?;
    report(&mut [("warm, cold (build + push)", cold), ("warm, up to date", again), ("cache-key", key)], compile)
}

/// What `cargo xtask` runs before a task: a build of the xtask with its own profile.
const COMPILE: &str = "cargo build --package xtask --profile xtask --locked --offline";

fn report(rows: &mut [(&str, Vec<Duration>)], compile: Duration) -> Result<()> {
    println!("{:<28} {:>8} {:>8} {:>8}   (runs: {})", "", "min", "median", "max", rows[0].1.len());
    for (name, times) in rows.iter_mut() {
        times.sort();
        println!("{name:<28} {:>8} {:>8} {:>8}", ms(times[0]), ms(times[times.len() / 2]), ms(times[times.len() - 1]));
    }
    println!("{:<28} {:>8}", "xtask cold compile", ms(compile));
    let worst = *rows[1].1.last().expect("at least one run");
    let mut missed = Vec::new();
    if worst > UP_TO_DATE_TARGET {
        missed.push(format!("an up-to-date warm took {}, over the target of {}", ms(worst), ms(UP_TO_DATE_TARGET)));
    }
    if compile > COMPILE_TARGET {
        missed.push(format!(
            "the xtask's cold compile took {}, over the target of {}",
            ms(compile),
            ms(COMPILE_TARGET)
        ));
    }
    if !missed.is_empty() {
        bail!("{}", missed.join("; "));
    }
    println!(
        "targets met: an up-to-date warm takes at most {} (target {}), a cold compile {} (target {})",
        ms(worst),
        ms(UP_TO_DATE_TARGET),
        ms(compile),
        ms(COMPILE_TARGET)
    );
    Ok(())
}

fn time(f: impl FnOnce() -> xshell::Result<()>) -> Result<Duration> {
    let start = Instant::now();
    f().context("a benchmarked command failed (run it by hand to see why)")?;
    Ok(start.elapsed())
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}
