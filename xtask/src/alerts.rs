//! What the records say is wrong with a cache: a job whose fresh runner could fetch less of the
//! deps layer than `min-hit-rate` (the cache lost it, or never got it), and a pull request's
//! pipeline that got slower against a cold run than recent ones did. A job's summary warns of
//! the first from its own record; the dashboard shows both from the history.

use crate::record::{render::bytes, Pipeline, Record};

/// The job a record belongs to, as charts and alerts group runs: the workflow's job and its
/// matrix values under GitHub Actions (`test-matrix (ubuntu-latest, unit)`), else the task
/// (`test --type unit`).
pub fn job_name(record: &Record) -> String {
    match &record.github {
        Some(g) if !g.job.is_empty() && g.matrix.is_empty() => g.job.clone(),
        Some(g) if !g.job.is_empty() => {
            format!("{} ({})", g.job, g.matrix.values().cloned().collect::<Vec<_>>().join(", "))
        }
        _ => record.title(),
    }
}

/// Whether a fresh runner of this run could fetch less of the deps layer than `min`, and it was
/// not the first build of a new key (a job that builds the deps layer itself, under a key no
/// earlier run pushed): the warning, naming the job, the key and the sizes. `earlier`: the
/// records before it, when a history was read.
pub fn degraded(record: &Record, earlier: &[Record], min: f64) -> Option<String> {
    let rates = record.rates.as_ref()?;
    if rates.deps_hit_rate >= min {
        return None;
    }
    let deps = record.target(crate::layers::DEPS)?;
    let key = &deps.key;
    let pushed_before = earlier
        .iter()
        .any(|r| r.target(crate::layers::DEPS).is_some_and(|d| d.key == *key) && r.pushed.paths > 0 && r.ok());
    if deps.built_here && !pushed_before {
        return None;
    }
    let view = deps.before.as_ref()?;
    let missed = view.missed_bytes.map_or_else(|| "?".to_owned(), bytes);
    Some(format!(
        "{}: the deps layer's hit rate was {:.2}, below min-hit-rate {min:.2}, under key {key}: a fresh runner could fetch {} of {} paths ({}; {} to build) from {}",
        job_name(record),
        rates.deps_hit_rate,
        view.cached,
        view.paths,
        bytes(view.cached_bytes),
        missed,
        record.cache.as_ref().map_or("the cache", |c| c.label.as_str())
    ))
}

/// How much slower a pull request's pipeline may be, against the cold run before it, than the
/// median of the recent pull requests before it, before it is a regression.
pub(crate) const REGRESSION: f64 = 1.5;
/// The recent pull requests a median is taken of, and how many it needs.
const RECENT: usize = 10;
const NEEDED: usize = 3;

/// The pull requests whose time per cold run regressed: each PR pipeline's critical path over
/// that of the latest cold pipeline before it (one that built the deps layer), against the median
/// of that ratio over the recent pull requests before it.
pub(crate) fn regressions(pipelines: &[(&Record, &Pipeline)]) -> Vec<(String, String)> {
    let mut alerts = Vec::new();
    let mut ratios: Vec<f64> = Vec::new();
    let mut cold: Option<f64> = None;
    for (record, pipeline) in pipelines {
        if is_cold(pipeline) {
            cold = Some(pipeline.critical_path_seconds);
            continue;
        }
        let (Some(cold), true) = (cold, pipeline.event == "pull_request") else { continue };
        let ratio = pipeline.critical_path_seconds / cold;
        let mut recent: Vec<f64> = ratios.iter().rev().take(RECENT).copied().collect();
        recent.sort_by(f64::total_cmp);
        let n = recent.len();
        if let Some(median) = (n >= NEEDED).then(|| recent[n / 2]).filter(|m| ratio > m * REGRESSION) {
            let message = format!(
                "{} ({}): a pull request's pipeline took {ratio:.2} of a cold run ({:.1} s), against a median of {median:.2} over the {n} pull requests before it",
                pipeline.workflow,
                record.commit.as_deref().map_or("?", |c| &c[..c.len().min(12)]),
                pipeline.critical_path_seconds,
            );
            alerts.push((record.id.clone(), message));
        }
        ratios.push(ratio);
    }
    alerts
}

/// A pipeline that built the deps layer: a cold run, which pull requests are measured against.
fn is_cold(Pipeline { jobs, .. }: &Pipeline) -> bool {
    jobs.iter().flat_map(|j| &j.tasks).any(|t| t.built > 0 && t.rates.as_ref().is_some_and(|r| r.deps_hit_rate < 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{JobRun, Ran, Rates, Target, View};

    fn deps_run(key: &str, rate: f64, built_here: bool, pushed: u64) -> Record {
        let mut record = Record::start("test", &["test".into(), "--type".into(), "unit".into()]);
        record.rates = Some(Rates { deps_hit_rate: rate, ..Rates::default() });
        let view = View { paths: 4, cached: (rate * 4.0) as u64, ..View::default() };
        record.targets =
            vec![Target { name: "deps".into(), key: key.into(), built_here, before: Some(view), ..Target::default() }];
        record.pushed.paths = pushed;
        record
    }

    #[test]
    fn a_miss_is_degraded_unless_it_is_the_first_build_of_a_new_key() {
        let test = deps_run("k1", 0.5, false, 0);
        let warning = degraded(&test, &[], 0.8).expect("a job that fetches the deps layer and missed");
        assert!(
            warning.contains("test --type unit") && warning.contains("k1") && warning.contains("2 of 4"),
            "{warning}"
        );
        let first = deps_run("k2", 0.0, true, 4);
        assert_eq!(degraded(&first, &[], 0.8), None, "the first build of a new key misses by design");
        assert!(degraded(&deps_run("k2", 0.0, true, 4), &[first], 0.8).is_some(), "the key was pushed before");
        assert_eq!(degraded(&deps_run("k1", 0.9, false, 0), &[], 0.8), None);
    }

    /// A pipeline of one job: a push's builds the deps layer (a cold run), a pull request's not.
    fn pipeline(event: &str, seconds: f64) -> Pipeline {
        let cold = event == "push";
        let ran = Ran {
            built: u64::from(cold),
            rates: Some(Rates { deps_hit_rate: if cold { 0.0 } else { 1.0 }, ..Rates::default() }),
            ..Ran::default()
        };
        let job = JobRun { tasks: vec![ran], ..JobRun::default() };
        Pipeline { event: event.into(), critical_path_seconds: seconds, jobs: vec![job], ..Pipeline::default() }
    }

    #[test]
    fn a_pull_request_slower_per_cold_run_than_the_recent_median_regressed() {
        let record = Record::start("ci", &[]);
        let first = [("push", 100.0), ("pull_request", 20.0), ("pull_request", 22.0), ("pull_request", 21.0)];
        let then = [("pull_request", 24.0), ("push", 200.0), ("pull_request", 45.0), ("pull_request", 70.0)];
        let runs: Vec<Pipeline> =
            first.into_iter().chain(then).map(|(event, seconds)| pipeline(event, seconds)).collect();
        let all: Vec<(&Record, &Pipeline)> = runs.iter().map(|p| (&record, p)).collect();
        let alerts = regressions(&all);
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert!(alerts[0].1.contains("0.35 of a cold run"), "{alerts:?}");
    }
}
