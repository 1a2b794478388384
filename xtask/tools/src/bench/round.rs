//! One round of the bench: every case once, on a fresh copy of the workspace. First what every CI
//! job pays before its first task (the compile, before Nix fills the page cache), then one
//! evaluation, a fresh runner cold, the CI jobs pushing, a no-op warm, a fresh runner warm, the
//! restore of the deps layer, then a pull request's app-only change (`status --why`, a fresh runner, the
//! CI jobs, the image published), and the pipeline itself (`cargo xtask ci`, [`super::pipeline`]).

use anyhow::{ensure, Context, Result};
use xshell::cmd;
use xtask::{
    nix::{json::parse_path_infos, version},
    session::Session,
};

use super::{compile, in_turn, median, results::Round, timed, workspace::Workspace, Call, Run};

/// One CI job the bench ran, and how its call went.
#[derive(Debug)]
pub struct JobTime {
    pub name: String,
    pub call: Call,
}

impl Run<'_> {
    pub(super) fn round(&self, session: &Session, n: usize) -> Result<Round> {
        let dir = self.base.join(format!("round-{n}"));
        // The order alternates with the round: neither build always comes first.
        let (compile_s, floor_s) = compile::measure(self.sh, &session.root, &dir, n % 2 == 1)?;
        let ws = Workspace::prepare(self.sh, &session.root, &dir)?;
        let mut r = Round { compile_s, floor_s, eval_s: self.evaluation(&ws)?, ..Round::default() };
        r.cold_s = self.runner_build(&ws)?;
        self.ci_jobs(&mut r, &ws, "cold", &format!("cold-{n}"))?;
        let noop = self.xtask_on(&ws.flake, &["warm"], true)?;
        r.jobs.push(JobTime { name: "no-op warm (GitHub Actions)".into(), call: noop });
        r.warm_s = self.runner_build(&ws)?;
        (r.restore_s, r.restore_raw_s, r.restore_bytes) = self.restore(&ws)?;

        ws.change_the_app(self.sh)?;
        let status = self.xtask_on(&ws.flake, &["status", "--why"], false)?;
        (r.status, r.status_wall_s) = (status.record.clone(), status.wall_s);
        r.jobs.push(JobTime { name: "status --why (PR)".into(), call: status });
        r.pr_s = self.runner_build(&ws)?;
        self.ci_jobs(&mut r, &ws, "PR", &format!("pr-{n}"))?;
        r.pipelines = self.pipelines(session, &dir)?;
        let keys = [self.secret.as_path(), &self.base.join("verify-new.secret")];
        let (pristine, workspace) = (self.base.join("verify/pristine"), self.base.join("rotate"));
        let verified = super::verify::measure(self.sh, &self.verifying, keys, &pristine, &workspace)?;
        (r.verify_file_s, r.verify_http_s, r.rotate_http_s) = (verified.file_s, verified.http_s, verified.rotate_s);
        for (n, flake) in &self.graphs {
            let asked = self.xtask_on(flake, &["warm-deps"], false)?;
            let step = asked.record.steps.iter().find(|s| s.kind == "fresh-runner");
            r.questions.push((*n, step.map_or(f64::MAX, |s| s.seconds)));
        }
        Ok(r)
    }

    /// One evaluation of the bench flake (an attribute's derivation).
    fn evaluation(&self, ws: &Workspace) -> Result<f64> {
        let attr = format!("{}#packages.x86_64-linux.deps.drvPath", ws.flake.display());
        timed(|| Ok(cmd!(self.sh, "nix eval --raw {attr}").quiet().ignore_stdout().run()?))
    }

    /// Nix's options to substitute from the bench's cache, signatures required.
    fn cache_options(&self) -> [&str; 6] {
        ["--option", "substituters", &self.nginx.url, "--option", "trusted-public-keys", &self.public]
    }

    /// A fresh runner builds every target, substituting from the cache.
    fn runner_build(&self, ws: &Workspace) -> Result<f64> {
        ws.fresh_runner()?;
        let (cache_options, targets) = (self.cache_options(), ws.installables());
        timed(|| {
            let out = cmd!(self.sh, "nix build --no-link {cache_options...} {targets...}")
                .quiet()
                .ignore_status()
                .output()?;
            let said = String::from_utf8_lossy(&out.stderr);
            let tail: Vec<&str> = said.lines().rev().take(15).collect::<Vec<_>>().into_iter().rev().collect();
            ensure!(out.status.success(), "a fresh runner's build failed ({}):\n{}", out.status, tail.join("\n"));
            Ok(())
        })
    }

    /// The CI jobs of a push (`warm`, then `test` of each type) and the bytes they pushed; then the
    /// app's image published as a fresh runner does (no skopeo blob cache) and the bytes uploaded.
    fn ci_jobs(&self, r: &mut Round, ws: &Workspace, case: &'static str, tag: &str) -> Result<()> {
        let before = self.nginx.bytes();
        let prebuild = self.xtask_on(&ws.flake, &["prebuild", "--prove"], false)?;
        r.jobs.push(JobTime { name: format!("prebuild --prove ({case})"), call: prebuild });
        r.jobs.push(JobTime { name: format!("warm ({case})"), call: self.xtask_on(&ws.flake, &["warm"], false)? });
        for test_type in ["unit", "integration", "clippy", "fmt"] {
            let call = self.xtask_on(&ws.flake, &["test", "--type", test_type], false)?;
            r.jobs.push(JobTime { name: format!("test --type {test_type} ({case})"), call });
        }
        r.pushed_bytes.push((case, self.nginx.bytes() - before));
        let _ = std::fs::remove_file("/var/lib/containers/cache/blob-info-cache-v1.boltdb");
        let (before, registry) = (self.registry.sent(), format!("{}/bench", self.registry.host));
        let push = ["build-containers", "--image", "harness", "--push", &registry, "--tag", tag];
        self.xtask_on(&ws.flake, &push, false)?;
        r.published_bytes.push((case, self.registry.sent() - before));
        Ok(())
    }

    /// The deps layer into an empty store from its paths (no evaluation), substituted as a runner
    /// does (signatures checked) and copied without signatures: in turn, each a median of three.
    fn restore(&self, ws: &Workspace) -> Result<(f64, f64, u64)> {
        let (sh, url, cache_options) = (self.sh, &self.nginx.url, self.cache_options());
        let deps = format!("{}#packages.x86_64-linux.deps", ws.flake.display());
        let out_path = cmd!(sh, "nix eval --raw {deps}.outPath").read()?;
        let json = version::path_info_json();
        let infos = parse_path_infos(&cmd!(sh, "nix path-info {json...} --recursive {out_path}").read()?)?;
        let paths = &infos.iter().map(|i| i.path.as_str()).collect::<Vec<_>>();
        let bytes = infos.iter().map(|i| i.nar_size).sum();
        let times = (0..3).map(|n| {
            let (a, b) =
                (ws.flake.with_file_name(format!("restore-{n}")), ws.flake.with_file_name(format!("copy-{n}")));
            let substitute = cmd!(sh, "nix build --no-link --max-jobs 0 --store {a} {cache_options...} {out_path}");
            let copy = cmd!(sh, "nix copy --no-check-sigs --from {url} --to {b} {paths...}");
            let time = |cmd: xshell::Cmd| timed(|| Ok(cmd.quiet().ignore_stderr().run()?));
            in_turn(
                n % 2 == 1,
                || time(substitute).context("the deps layer could not be substituted into an empty store"),
                || time(copy),
            )
        });
        let (substituted, copied) = times.collect::<Result<Vec<_>>>()?.into_iter().unzip();
        Ok((median(substituted), median(copied), bytes))
    }
}
