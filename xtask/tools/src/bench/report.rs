//! The bench's results for people (a markdown table: each metric's median and every round's value
//! beside its target) and for tools (JSON, with each round's pipeline records).

use serde_json::{json, Value};

use super::{
    pipeline::{Pipeline, COLD, NO_CHANGE, PR},
    results::*,
};

impl Results {
    pub fn markdown(&self) -> String {
        let mib = |b: u64| format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0));
        let last = self.rounds.last().expect("a bench has a round");
        let rates = last.status.rates.clone().unwrap_or_default();
        let rows: Vec<(&str, String, String, String)> = vec![
            (
                "CI binary's cold compile / floor crate's",
                format!("{:.2}", self.median(|r| r.compile_s / r.floor_s)),
                self.each(|r| r.compile_s / r.floor_s, 2),
                format!("≤ {COMPILE_OVER_FLOOR}"),
            ),
            (
                "  the compile (s)",
                format!("{:.1}", self.median(|r| r.compile_s)),
                self.each(|r| r.compile_s, 1),
                String::new(),
            ),
            (
                "  the floor crate (s)",
                format!("{:.1}", self.median(|r| r.floor_s)),
                self.each(|r| r.floor_s, 1),
                String::new(),
            ),
            (
                "one evaluation of the bench flake (s)",
                format!("{:.2}", self.median(|r| r.eval_s)),
                self.each(|r| r.eval_s, 2),
                String::new(),
            ),
            (
                "fresh runner, cold: every target, empty cache (s)",
                format!("{:.1}", self.median(|r| r.cold_s)),
                self.each(|r| r.cold_s, 1),
                String::new(),
            ),
            (
                "fresh runner, warm: every target, warmed cache (s)",
                format!("{:.1}", self.median(|r| r.warm_s)),
                self.each(|r| r.warm_s, 1),
                String::new(),
            ),
            (
                "fresh runner, PR: an app-only change (s)",
                format!("{:.1}", self.median(|r| r.pr_s)),
                self.each(|r| r.pr_s, 1),
                String::new(),
            ),
            (
                "PR / cold",
                format!("{:.2}", self.median(|r| r.pr_s / r.cold_s)),
                self.each(|r| r.pr_s / r.cold_s, 2),
                format!("≤ {PR_OVER_COLD} (aim 0.15)"),
            ),
            (
                "hit rate (PR, all targets; by bytes)",
                format!("{:.2}; {}", rates.hit_rate, rates.byte_hit_rate.map_or("-".into(), |b| format!("{b:.2}"))),
                String::new(),
                "> 0.80 (seed)".into(),
            ),
            ("deps hit rate (PR)", format!("{:.2}", rates.deps_hit_rate), String::new(), "= 1.0".into()),
            (
                "to build (PR)",
                last.status
                    .targets
                    .iter()
                    .flat_map(|t| t.before.iter().flat_map(|v| v.to_build.clone()))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>()
                    .join(", "),
                String::new(),
                "workspace derivations only".into(),
            ),
            (
                "evaluations per job (max)",
                self.rounds.iter().flat_map(|r| &r.jobs).map(|j| j.evaluations).max().unwrap_or(0).to_string(),
                String::new(),
                "1".into(),
            ),
            (
                "no-op `warm` under GitHub Actions, beyond keeping its record (s)",
                format!("{:.2}", self.median(|r| r.noop_s() - r.noop_history_s())),
                self.each(|r| r.noop_s() - r.noop_history_s(), 2),
                format!(
                    "≤ {NOOP_EVALUATIONS} × evaluation + {NOOP_EXTRA_S} s ({:.2} s)",
                    self.median(|r| r.noop_limit())
                ),
            ),
            (
                "  keeping its record in the cache's history (s)",
                format!("{:.2}", self.median(|r| r.noop_history_s())),
                self.each(|r| r.noop_history_s(), 2),
                String::new(),
            ),
            (
                "`status` beyond its cache queries (s)",
                format!("{:.2}", self.median(|r| r.status_beyond_queries())),
                self.each(|r| r.status_beyond_queries(), 2),
                format!(
                    "≤ {STATUS_EVALUATIONS} × evaluation ({:.2} s)",
                    STATUS_EVALUATIONS * self.median(|r| r.eval_s)
                ),
            ),
            (
                "restore of the deps layer, substituted, signatures checked (s)",
                format!("{:.2} ({})", self.median(|r| r.restore_s), mib(last.restore_bytes)),
                self.each(|r| r.restore_s, 2),
                "< 2 min (seed)".into(),
            ),
            (
                "the same paths, `nix copy --no-check-sigs` (s)",
                format!("{:.2}", self.median(|r| r.restore_raw_s)),
                self.each(|r| r.restore_raw_s, 2),
                String::new(),
            ),
            (
                "pushed to the cache",
                last.pushed_bytes.iter().map(|(c, b)| format!("{c} {}", mib(*b))).collect::<Vec<_>>().join(", "),
                String::new(),
                String::new(),
            ),
            (
                "the app's image published from a runner with no state",
                last.published_bytes.iter().map(|(c, b)| format!("{c} {}", mib(*b))).collect::<Vec<_>>().join(", "),
                String::new(),
                "PR: the changed layer only".into(),
            ),
            (
                "`verify`, 10,000 narinfos: a directory (s)",
                format!("{:.2}", self.median(|r| r.verify_file_s)),
                self.each(|r| r.verify_file_s, 2),
                String::new(),
            ),
            (
                "  the same over loopback HTTP (s)",
                format!("{:.2}", self.median(|r| r.verify_http_s)),
                self.each(|r| r.verify_http_s, 2),
                String::new(),
            ),
            (
                "  HTTP / directory",
                format!("{:.2}", self.median(|r| r.verify_http_s / r.verify_file_s)),
                self.each(|r| r.verify_http_s / r.verify_file_s, 2),
                format!("≤ {}", super::verify::OVER_FILE),
            ),
            (
                "the cache question, up to date: a deps layer of 300 build-time derivations (s)",
                format!("{:.2}", self.median(|r| r.question(300))),
                self.each(|r| r.question(300), 2),
                String::new(),
            ),
            (
                "  of 3,000 build-time derivations (s)",
                format!("{:.2}", self.median(|r| r.question(3000))),
                self.each(|r| r.question(3000), 2),
                format!("≤ {}", super::graph::QUESTION_S),
            ),
            (
                "  3,000 / 300",
                format!("{:.2}", self.median(|r| r.question(3000) / r.question(300))),
                self.each(|r| r.question(3000) / r.question(300), 2),
                format!("≤ {}", super::graph::OVER_SMALL),
            ),
            (
                "xtask's own time per CI job, max (s)",
                format!("{:.3}", self.median(|r| r.jobs.iter().map(|j| j.own_s).fold(0.0, f64::max))),
                self.each(|r| r.jobs.iter().map(|j| j.own_s).fold(0.0, f64::max), 3),
                String::new(),
            ),
        ];
        let mut md = format!("{} round(s); each target holds the median.\n\n| metric | median | each round | target |\n|---|---|---|---|\n", self.rounds.len());
        for (metric, value, each, target) in rows {
            md += &format!("| {metric} | {value} | {each} | {target} |\n");
        }
        md + &self.pipelines_markdown()
    }

    fn pipelines_markdown(&self) -> String {
        let setup = self.rounds.iter().find_map(|r| Some(r.pipelines.first()?.record.setup_seconds)).unwrap_or(0.0);
        let mut md = format!(
            "\nPipeline PR / cold (on parallel runners): {:.2}, each round {} (target ≤ {PR_OVER_COLD}); as GitHub would bill it \
             (each job that runs {setup:.0} s longer, `job-setup-seconds`): {:.2}, each round {}\n\n\
             | pipeline (`cargo xtask ci`) | on parallel runners (s, each round) | as GitHub would bill it (s) | job levels | jobs in all (s) | pushed | slowest `cargo xtask` start after the first job (s, ≤ {LATER_START_S}) | built |\n\
             |---|---:|---:|---:|---:|---:|---:|---|\n",
            self.median(|r| r.pipeline_ratio().unwrap_or(f64::MAX)),
            self.each(|r| r.pipeline_ratio().unwrap_or(f64::NAN), 2),
            self.median(|r| r.billed_pipeline_ratio().unwrap_or(f64::MAX)),
            self.each(|r| r.billed_pipeline_ratio().unwrap_or(f64::NAN), 2)
        );
        for case in [COLD, PR, NO_CHANGE] {
            let runs: Vec<&Pipeline> = self.rounds.iter().filter_map(|r| r.pipeline(case)).collect();
            let each = |f: &dyn Fn(&Pipeline) -> f64| {
                runs.iter().map(|p| format!("{:.1}", f(p))).collect::<Vec<_>>().join(", ")
            };
            let built = runs.last().map(|p| p.built()).unwrap_or_default();
            md += &format!(
                "| {case} | {} | {} | {} | {} | {:.1} MiB | {} | {} |\n",
                each(&|p| p.record.critical_path_seconds),
                each(&|p| p.record.github_seconds),
                runs.last().map_or(0, |p| p.record.levels),
                each(&|p| p.record.sum_seconds),
                runs.last().map_or(0, |p| p.pushed_bytes) as f64 / (1024.0 * 1024.0),
                each(&|p| p.later_start_s()),
                if built.is_empty() { "nothing".to_owned() } else { built.join(", ") }
            );
        }
        md
    }

    pub fn json(&self) -> Value {
        let rounds: Vec<Value> = self
            .rounds
            .iter()
            .map(|r| {
                json!({
                    "compile_s": r.compile_s, "floor_compile_s": r.floor_s, "compile_over_floor": r.compile_s / r.floor_s,
                    "eval_s": r.eval_s, "cold_s": r.cold_s, "warm_s": r.warm_s, "pr_s": r.pr_s, "pr_over_cold": r.pr_s / r.cold_s,
                    "status": r.status.rates, "status_wall_s": r.status_wall_s,
                    "restore_s": r.restore_s, "restore_raw_s": r.restore_raw_s, "restore_bytes": r.restore_bytes,
                    "pushed_bytes": r.pushed_bytes.iter().map(|(c, b)| (c.to_string(), Value::from(*b))).collect::<serde_json::Map<_, _>>(),
                    "published_bytes": r.published_bytes.iter().map(|(c, b)| (c.to_string(), Value::from(*b))).collect::<serde_json::Map<_, _>>(),
                    "jobs": r.jobs.iter().map(|j| json!({ "name": j.name, "wall_s": j.wall_s, "own_s": j.own_s, "history_s": j.history_s, "evaluations": j.evaluations })).collect::<Vec<_>>(),
                    "verify_file_s": r.verify_file_s, "verify_http_s": r.verify_http_s, "questions": r.questions,
                    "pipelines": r.pipelines.iter().map(|p| json!({ "case": p.case, "pushed_bytes": p.pushed_bytes, "record": p.record })).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({
            "compile_over_floor": self.median(|r| r.compile_s / r.floor_s),
            "pr_over_cold": self.median(|r| r.pr_s / r.cold_s),
            "pipeline_pr_over_cold": self.median(|r| r.pipeline_ratio().unwrap_or(f64::MAX)),
            "rounds": rounds,
        })
    }
}
