//! A workflow's jobs as GitHub runs them: in an order that runs each after the jobs it needs
//! ([`order`]), each job's matrix expanded into its legs ([`legs`]), each named as GitHub shows it.

use anyhow::{bail, Result};

use super::{
    graph::{Job, RunsOn, Workflow},
    runner_platform,
};

/// One job of the expanded matrix.
pub struct Leg<'g> {
    /// The job it is a leg of.
    pub job: &'g Job,
    /// Its value of each axis, and what a matching `include` entry added.
    pub values: Vec<(&'static str, String)>,
    /// The name GitHub shows, matrix values filled in.
    pub name: String,
}

impl Leg<'_> {
    /// Its value of `axis`, when it has one.
    pub fn value(&self, axis: &str) -> Option<&str> {
        self.values.iter().find(|(a, _)| *a == axis).map(|(_, v)| v.as_str())
    }

    /// The runner's label.
    pub fn runner(&self) -> &str {
        match self.job.runs_on {
            RunsOn::Label(label) => label,
            RunsOn::Axis(axis) => self.value(axis).unwrap_or_default(),
        }
    }

    /// The runner's arch, when it is a GitHub-hosted Linux runner.
    pub fn arch(&self) -> Option<&'static str> {
        runner_platform(self.runner()).filter(|(os, _)| *os == "linux").map(|(_, arch)| arch)
    }
}

/// The jobs in an order that runs each after the jobs it needs.
pub fn order(workflow: &Workflow) -> Result<Vec<&Job>> {
    let mut done: Vec<&Job> = Vec::new();
    while done.len() < workflow.jobs.len() {
        let ready = workflow.jobs.iter().find(|job| {
            !done.iter().any(|d| d.id == job.id) && job.needs.iter().all(|n| done.iter().any(|d| d.id == *n))
        });
        match ready {
            Some(job) => done.push(job),
            None => bail!("{}: the jobs' needs name an unknown job or form a cycle", workflow.file),
        }
    }
    Ok(done)
}

/// A job's matrix as GitHub expands it: every combination of the axes; then each `include` entry
/// is added to the combinations whose axis values it matches, or is a combination of its own.
pub fn legs(job: &Job) -> Vec<Leg<'_>> {
    let Some(matrix) = &job.matrix else {
        return vec![Leg { job, values: Vec::new(), name: job.name.clone() }];
    };
    let mut combos: Vec<Vec<(&'static str, String)>> = vec![Vec::new()];
    for (axis, values) in &matrix.axes {
        combos = combos
            .into_iter()
            .flat_map(|combo| {
                values.iter().map(move |v| {
                    let mut c = combo.clone();
                    c.push((*axis, v.clone()));
                    c
                })
            })
            .collect();
    }
    for entry in &matrix.include {
        let is_axis = |key: &str| matrix.axes.iter().any(|(a, _)| *a == key);
        let matches = |combo: &Vec<(&'static str, String)>| {
            entry.iter().filter(|(k, _)| is_axis(k)).all(|(k, v)| combo.iter().any(|(a, cv)| a == k && cv == v))
        };
        let mut added = false;
        for combo in combos.iter_mut().filter(|c| matches(c)) {
            combo.extend(entry.iter().filter(|(k, _)| !is_axis(k)).cloned());
            added = true;
        }
        if !added {
            combos.push(entry.clone());
        }
    }
    combos
        .into_iter()
        .map(|values| {
            let name = values.iter().fold(job.name.clone(), |n, (axis, v)| n.replace(&format!("{{{axis}}}"), v));
            Leg { job, values, name }
        })
        .collect()
}
