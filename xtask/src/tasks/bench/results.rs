//! What the bench measured, as a markdown table and JSON, and the targets it is held to.

use anyhow::{bail, Result};

use serde_json::{json, Value};

/// The seed's PR build time target: at most a quarter of cold (aiming at 0.15).
const PR_OVER_COLD: f64 = 0.25;
/// A pull request builds only the workspace's own derivations.
const DEPS_HIT_RATE: f64 = 1.0;
const NOOP_WARM_S: f64 = 2.0;
const COMPILE_S: f64 = 10.0;

#[derive(Debug, Default)]
pub struct Results {
    pub cold_s: f64,
    pub warm_s: f64,
    pub pr_s: f64,
    pub hit_rate: f64,
    pub deps_hit_rate: f64,
    /// What a fresh runner builds after the PR's change (`status`).
    pub to_build: Vec<String>,
    pub restore_s: f64,
    pub restore_raw_s: f64,
    pub restore_bytes: u64,
    pub noop_warm_s: f64,
    /// Bytes the cache grew by, per case.
    pub pushed_bytes: Vec<(&'static str, u64)>,
    /// The xtask's own time (wall minus its commands') of each CI job it ran.
    pub own_s: Vec<f64>,
    pub compile_s: f64,
}

impl Results {
    fn pr_over_cold(&self) -> f64 {
        self.pr_s / self.cold_s
    }

    fn restore_over_raw_copy(&self) -> f64 {
        self.restore_s / self.restore_raw_s
    }

    fn own_max(&self) -> f64 {
        self.own_s.iter().copied().fold(0.0, f64::max)
    }

    pub fn json(&self) -> Value {
        let pushed: serde_json::Map<String, Value> =
            self.pushed_bytes.iter().map(|(case, bytes)| (case.to_string(), Value::from(*bytes))).collect();
        json!({
            "cold_s": self.cold_s, "warm_s": self.warm_s, "pr_s": self.pr_s, "pr_over_cold": self.pr_over_cold(),
            "hit_rate": self.hit_rate, "deps_hit_rate": self.deps_hit_rate, "to_build": self.to_build,
            "restore_s": self.restore_s, "restore_bytes": self.restore_bytes,
            "restore_over_raw_copy": self.restore_over_raw_copy(), "noop_warm_s": self.noop_warm_s,
            "pushed_bytes": pushed, "xtask_own_s_max": self.own_max(), "xtask_compile_s": self.compile_s,
        })
    }

    pub fn markdown(&self) -> String {
        let mib = |b: u64| format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0));
        let pushed: Vec<String> = self.pushed_bytes.iter().map(|(case, b)| format!("{case} {}", mib(*b))).collect();
        let rows = [
            ("cold: every target, empty cache", format!("{:.1} s", self.cold_s), String::new()),
            ("warm: every target, warmed cache", format!("{:.1} s", self.warm_s), String::new()),
            ("PR: an app-only change", format!("{:.1} s", self.pr_s), String::new()),
            ("PR / cold", format!("{:.2}", self.pr_over_cold()), format!("≤ {PR_OVER_COLD} (aim 0.15)")),
            ("hit rate (PR, all targets)", format!("{:.2}", self.hit_rate), "> 0.80 (seed)".into()),
            ("deps hit rate (PR)", format!("{:.2}", self.deps_hit_rate), format!("= {DEPS_HIT_RATE}")),
            ("to build (PR)", self.to_build.join(", "), "workspace derivations only".into()),
            (
                "restore of the deps layer",
                format!("{:.1} s, {}", self.restore_s, mib(self.restore_bytes)),
                "< 2 min (seed)".into(),
            ),
            ("restore / plain `nix copy`", format!("{:.2}", self.restore_over_raw_copy()), String::new()),
            ("no-op `warm`", format!("{:.2} s", self.noop_warm_s), format!("≤ {NOOP_WARM_S} s")),
            ("pushed", pushed.join(", "), String::new()),
            ("xtask's own time per CI job (max)", format!("{:.3} s", self.own_max()), String::new()),
            ("xtask cold compile (median of 3)", format!("{:.1} s", self.compile_s), format!("≤ {COMPILE_S} s")),
        ];
        let mut md = String::from("| metric | measured | target |\n|---|---|---|\n");
        for (metric, value, target) in rows {
            md += &format!("| {metric} | {value} | {target} |\n");
        }
        md
    }

    /// Every target the run missed, at once.
    pub fn check(&self) -> Result<()> {
        let mut missed = Vec::new();
        if self.pr_over_cold() > PR_OVER_COLD {
            missed.push(format!("PR / cold is {:.2}, over {PR_OVER_COLD}", self.pr_over_cold()));
        }
        if self.deps_hit_rate < DEPS_HIT_RATE {
            missed.push(format!("the deps hit rate is {:.2}: a PR rebuilt dependencies", self.deps_hit_rate));
        }
        if self.noop_warm_s > NOOP_WARM_S {
            missed.push(format!("a no-op warm took {:.2} s, over {NOOP_WARM_S} s", self.noop_warm_s));
        }
        if self.compile_s > COMPILE_S {
            missed.push(format!("the xtask's cold compile took {:.1} s, over {COMPILE_S} s", self.compile_s));
        }
        if !missed.is_empty() {
            bail!("targets missed: {}", missed.join("; "));
        }
        Ok(())
    }
}
