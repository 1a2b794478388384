//! A pipeline's jobs on GitHub's parallel runners: each job starts when the last job it needs
//! ends (a matrix job ends with its slowest leg), so the pipeline takes its longest chain through
//! `needs` (the critical path). It is also timed as GitHub bills it: each job that runs first pays
//! its set-up (a runner, the checkout, Nix, the cache action); a job skipped by its `if:` none.
//! The job that keeps the pipeline in the history ([`HISTORY_JOB`]) runs after the verdict: it
//! is timed, never on the critical path (on GitHub it writes this record, and is not in it).

use std::collections::BTreeMap;

use super::{JobRun, Pipeline};

/// The id of a workflow's last job, which keeps its run's pipeline in the history.
pub const HISTORY_JOB: &str = "history";

impl Pipeline {
    /// The pipeline of `jobs`, in an order that runs each after the jobs it needs, each job's
    /// start on parallel runners and the pipeline's critical path filled in, as run and as GitHub
    /// would bill it (each job that runs `setup` seconds longer). A skipped job takes no time.
    pub fn timed(workflow: &str, event: &str, fork: bool, mut jobs: Vec<JobRun>, setup: f64) -> Pipeline {
        let (mut end, mut billed): (BTreeMap<String, f64>, BTreeMap<String, f64>) = Default::default();
        for job in &mut jobs {
            let start = |ends: &BTreeMap<String, f64>| {
                job.needs.iter().filter_map(|n| ends.get(n)).fold(0.0_f64, |a, b| a.max(*b))
            };
            job.start_seconds = start(&end);
            let billed_start = start(&billed);
            let (took, setup) = if job.result == "skipped" { (0.0, 0.0) } else { (job.seconds, setup) };
            let finish = end.entry(job.id.clone()).or_insert(0.0);
            *finish = finish.max(job.start_seconds + took);
            let finish = billed.entry(job.id.clone()).or_insert(0.0);
            *finish = finish.max(billed_start + setup + took);
        }
        let mut pipeline = Pipeline {
            workflow: workflow.to_owned(),
            event: event.to_owned(),
            fork,
            critical_path_seconds: verdict(&end),
            sum_seconds: jobs.iter().map(|j| j.seconds).sum(),
            setup_seconds: setup,
            github_seconds: verdict(&billed),
            jobs,
            levels: 0,
        };
        pipeline.levels = pipeline.critical_path().iter().filter(|j| j.result != "skipped").count() as u64;
        pipeline
    }

    /// The jobs on the critical path, first to last.
    pub(crate) fn critical_path(&self) -> Vec<&JobRun> {
        let mut path = Vec::new();
        let mut last = self.jobs.iter().filter(|j| j.id != HISTORY_JOB).max_by(|a, b| end(a).total_cmp(&end(b)));
        while let Some(job) = last {
            path.push(job);
            last = self.jobs.iter().filter(|j| job.needs.contains(&j.id)).max_by(|a, b| end(a).total_cmp(&end(b)));
        }
        path.reverse();
        path
    }
}

/// When the last job before the history job ends.
fn verdict(ends: &BTreeMap<String, f64>) -> f64 {
    ends.iter().filter(|(id, _)| *id != HISTORY_JOB).fold(0.0, |a, (_, b)| a.max(*b))
}

fn end(job: &JobRun) -> f64 {
    job.start_seconds + if job.result == "skipped" { 0.0 } else { job.seconds }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, needs: &[&str], seconds: f64) -> JobRun {
        JobRun {
            id: id.into(),
            name: id.into(),
            result: "success".into(),
            needs: needs.iter().map(|n| n.to_string()).collect(),
            seconds,
            ..JobRun::default()
        }
    }

    #[test]
    fn the_critical_path_runs_through_the_slowest_leg_of_each_need() {
        let jobs = vec![
            job("prebuild", &[], 10.0),
            job("test", &["prebuild"], 5.0),
            job("test", &["prebuild"], 7.0),
            job("images", &["prebuild", "test"], 3.0),
            job("lint", &["prebuild"], 1.0),
        ];
        let pipeline = Pipeline::timed("ci.yml", "push", false, jobs, 2.0);
        assert_eq!(pipeline.critical_path_seconds, 20.0);
        assert_eq!((pipeline.github_seconds, pipeline.levels), (26.0, 3), "three levels, each 2 s longer");
        assert_eq!(pipeline.sum_seconds, 26.0);
        assert_eq!(pipeline.jobs[3].start_seconds, 17.0);
        let path: Vec<(&str, f64)> = pipeline.critical_path().iter().map(|j| (j.id.as_str(), j.seconds)).collect();
        assert_eq!(path, [("prebuild", 10.0), ("test", 7.0), ("images", 3.0)]);
    }

    #[test]
    fn a_skipped_job_pays_no_set_up_and_is_no_level() {
        let mut test = job("test", &["prebuild"], 0.0);
        test.result = "skipped".into();
        let jobs = vec![job("prebuild", &[], 10.0), test, job(HISTORY_JOB, &["prebuild", "test"], 4.0)];
        let pipeline = Pipeline::timed("ci.yml", "pull_request", false, jobs, 20.0);
        assert_eq!((pipeline.critical_path_seconds, pipeline.github_seconds, pipeline.levels), (10.0, 30.0, 1));
        // The history job, after the verdict, is timed, not on the critical path.
        assert_eq!((pipeline.jobs[2].start_seconds, pipeline.sum_seconds), (10.0, 14.0));
    }
}
