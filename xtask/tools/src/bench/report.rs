//! The bench's results for people (a markdown table: each metric's median and every round's value
//! beside its target) and for tools (JSON, with each round's pipeline records).

use std::collections::BTreeSet;

use serde_json::{json, Value};
use xtask::record::render::mib;

use super::{
    graph::{OVER_SMALL, QUESTION_S},
    pipeline::{Pipeline, COLD, NO_CHANGE, PR},
    results::*,
    verify::{OVER_FILE, ROTATE_OVER_VERIFY},
};

impl Results {
    pub fn markdown(&self) -> String {
        let last = self.rounds.last().expect("a bench has a round");
        let rates = last.status.rates.clone().unwrap_or_default();
        let row = |metric: &str, value: &str, each: &str, target: &str| {
            format!("| {metric} | {value} | {each} | {target} |\n")
        };
        // A per-round measure: the median, and each round's, `digits` after the point.
        let measured = |metric: &str, of: &dyn Fn(&Round) -> f64, digits: usize, target: &str| {
            row(metric, &format!("{:.digits$}", self.median(of)), &self.each(of, digits), target)
        };
        let by_case = |bytes: &[(&str, u64)]| bytes.iter().map(|(c, b)| format!("{c} {}", mib(*b))).collect::<Vec<_>>();
        let (pushed, published) = (by_case(&last.pushed_bytes).join(", "), by_case(&last.published_bytes).join(", "));
        let views = last.status.targets.iter().flat_map(|t| &t.before);
        let to_build: BTreeSet<&str> = views.flat_map(|v| &v.to_build).map(String::as_str).collect();
        let hit_rates =
            format!("{:.2}; {}", rates.hit_rate, rates.byte_hit_rate.map_or("-".into(), |b| format!("{b:.2}")));
        let evaluations =
            self.rounds.iter().flat_map(|r| &r.jobs).map(|j| j.call.record.evaluations).max().unwrap_or(0);
        let noop_target =
            format!("≤ {NOOP_EVALUATIONS} × evaluation + {NOOP_EXTRA_S} s ({:.2} s)", self.median(Round::noop_limit));
        let status_target =
            format!("≤ {STATUS_EVALUATIONS} × evaluation ({:.2} s)", STATUS_EVALUATIONS * self.median(|r| r.eval_s));
        let restored = format!("{:.2} ({})", self.median(|r| r.restore_s), mib(last.restore_bytes));
        let restores = self.each(|r| r.restore_s, 2);
        let over_floor = |r: &Round| r.compile_s / r.floor_s;
        let noop = |r: &Round| r.noop_s() - r.noop_history_s();
        let (small, large) = (|r: &Round| r.question(300), |r: &Round| r.question(3000));
        let own = |r: &Round| r.jobs.iter().map(|j| j.call.record.own_seconds).fold(0.0, f64::max);
        let rows = [
            measured("CI binary's cold compile / floor crate's", &over_floor, 2, &format!("≤ {COMPILE_OVER_FLOOR}")),
            measured("  the compile (s)", &|r| r.compile_s, 1, ""),
            measured("  the floor crate (s)", &|r| r.floor_s, 1, ""),
            measured("one evaluation of the bench flake (s)", &|r| r.eval_s, 2, ""),
            measured("fresh runner, cold: every target, empty cache (s)", &|r| r.cold_s, 1, ""),
            measured("fresh runner, warm: every target, warmed cache (s)", &|r| r.warm_s, 1, ""),
            measured("fresh runner, PR: an app-only change (s)", &|r| r.pr_s, 1, ""),
            measured("PR / cold", &|r| r.pr_s / r.cold_s, 2, &format!("≤ {PR_OVER_COLD} (aim 0.15)")),
            row("hit rate (PR, all targets; by bytes)", &hit_rates, "", "> 0.80 (seed)"),
            row("deps hit rate (PR)", &format!("{:.2}", rates.deps_hit_rate), "", "= 1.0"),
            row("to build (PR)", &Vec::from_iter(to_build).join(", "), "", "workspace derivations only"),
            row("evaluations per job (max)", &evaluations.to_string(), "", "1"),
            measured("no-op `warm` under GitHub Actions, beyond keeping its record (s)", &noop, 2, &noop_target),
            measured("  keeping its record in the cache's history (s)", &Round::noop_history_s, 2, ""),
            measured("`status --why` beyond its cache queries (s)", &Round::status_beyond_queries, 2, &status_target),
            measured("the largest record of a CI job (KiB)", &Round::record_kib, 1, &format!("< {RECORD_KIB}")),
            row(
                "restore of the deps layer, substituted, signatures checked (s)",
                &restored,
                &restores,
                "< 2 min (seed)",
            ),
            measured("the same paths, `nix copy --no-check-sigs` (s)", &|r| r.restore_raw_s, 2, ""),
            row("pushed to the cache", &pushed, "", ""),
            row("the app's image published from a runner with no state", &published, "", "PR: the changed layer only"),
            measured("`verify`, 10,000 narinfos: a directory (s)", &|r| r.verify_file_s, 2, ""),
            measured("  the same over loopback HTTP (s)", &|r| r.verify_http_s, 2, ""),
            measured("  HTTP / directory", &|r| r.verify_http_s / r.verify_file_s, 2, &format!("≤ {OVER_FILE}")),
            measured("`rotate-key --new` of the same over loopback HTTP (s)", &|r| r.rotate_http_s, 2, ""),
            measured(
                "  rotation / verify over HTTP",
                &|r| r.rotate_http_s / r.verify_http_s,
                2,
                &format!("≤ {ROTATE_OVER_VERIFY}"),
            ),
            measured("the cache question, up to date: a deps layer of 300 build-time derivations (s)", &small, 2, ""),
            measured("  of 3,000 build-time derivations (s)", &large, 2, &format!("≤ {QUESTION_S}")),
            measured("  3,000 / 300", &|r| large(r) / small(r), 2, &format!("≤ {OVER_SMALL}")),
            measured("xtask's own time per CI job, max (s)", &own, 3, ""),
        ];
        format!(
            "{} round(s); each target holds the median.\n\n| metric | median | each round | target |\n|---|---|---|---|\n{}{}",
            self.rounds.len(),
            rows.concat(),
            self.pipelines_markdown()
        )
    }

    fn pipelines_markdown(&self) -> String {
        let setup = self.rounds.iter().find_map(|r| Some(r.pipelines.first()?.record.setup_seconds)).unwrap_or(0.0);
        let mut md = format!(
            "\nPipeline PR / cold (on parallel runners): {:.2}, each round {} (target ≤ {}); as GitHub would bill it \
             (each job that runs {setup:.0} s longer, `job-setup-seconds`): {:.2}, each round {} (target ≤ {}). A pull \
             request that changes nothing: ≤ {NO_CHANGE_S} s on parallel runners, one job level.\n\n\
             | pipeline (`cargo xtask ci`) | on parallel runners (s, each round) | as GitHub would bill it (s) | job levels | jobs in all (s) | pushed | slowest `cargo xtask` start after the first job (s, ≤ {LATER_START_S}) | built |\n\
             |---|---:|---:|---:|---:|---:|---:|---|\n",
            self.median(|r| r.pipeline_ratio(false).unwrap_or(f64::MAX)),
            self.each(|r| r.pipeline_ratio(false).unwrap_or(f64::NAN), 2),
            PIPELINE_PR_OVER_COLD[0],
            self.median(|r| r.pipeline_ratio(true).unwrap_or(f64::MAX)),
            self.each(|r| r.pipeline_ratio(true).unwrap_or(f64::NAN), 2),
            PIPELINE_PR_OVER_COLD[1]
        );
        for case in [COLD, PR, NO_CHANGE] {
            let runs: Vec<&Pipeline> = self.rounds.iter().filter_map(|r| r.pipeline(case)).collect();
            let each = |f: &dyn Fn(&Pipeline) -> f64| {
                runs.iter().map(|p| format!("{:.1}", f(p))).collect::<Vec<_>>().join(", ")
            };
            let built = runs.last().map(|p| p.built()).unwrap_or_default();
            md += &format!(
                "| {case} | {} | {} | {} | {} | {} | {} | {} |\n",
                each(&|p| p.record.critical_path_seconds),
                each(&|p| p.record.github_seconds),
                runs.last().map_or(0, |p| p.record.levels),
                each(&|p| p.record.sum_seconds),
                mib(runs.last().map_or(0, |p| p.pushed_bytes)),
                each(&|p| p.later_start_s()),
                if built.is_empty() { "nothing".to_owned() } else { built.join(", ") }
            );
        }
        md
    }

    pub fn json(&self) -> Value {
        let rounds = self.rounds.iter().map(|r| {
            json!({
                "compile_s": r.compile_s, "floor_compile_s": r.floor_s, "compile_over_floor": r.compile_s / r.floor_s,
                "eval_s": r.eval_s, "cold_s": r.cold_s, "warm_s": r.warm_s, "pr_s": r.pr_s, "pr_over_cold": r.pr_s / r.cold_s,
                "status": r.status.rates, "status_wall_s": r.status_wall_s,
                "restore_s": r.restore_s, "restore_raw_s": r.restore_raw_s, "restore_bytes": r.restore_bytes,
                "pushed_bytes": r.pushed_bytes.iter().map(|(c, b)| (c.to_string(), Value::from(*b))).collect::<serde_json::Map<_, _>>(),
                "published_bytes": r.published_bytes.iter().map(|(c, b)| (c.to_string(), Value::from(*b))).collect::<serde_json::Map<_, _>>(),
                "jobs": r.jobs.iter().map(|j| json!({ "name": j.name, "wall_s": j.call.wall_s, "own_s": j.call.record.own_seconds, "history_s": j.call.record.history_seconds.unwrap_or(0.0), "evaluations": j.call.record.evaluations })).collect::<Vec<_>>(),
                "verify_file_s": r.verify_file_s, "verify_http_s": r.verify_http_s, "rotate_http_s": r.rotate_http_s, "questions": r.questions,
                "pipelines": r.pipelines.iter().map(|p| json!({ "case": p.case, "pushed_bytes": p.pushed_bytes, "record": p.record })).collect::<Vec<_>>(),
            })
        });
        json!({
            "compile_over_floor": self.median(|r| r.compile_s / r.floor_s),
            "pr_over_cold": self.median(|r| r.pr_s / r.cold_s),
            "pipeline_pr_over_cold": self.median(|r| r.pipeline_ratio(false).unwrap_or(f64::MAX)),
            "rounds": rounds.collect::<Vec<_>>(),
        })
    }
}
