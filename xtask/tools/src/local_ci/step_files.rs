//! The files GitHub Actions gives each step, and how it reads them back: `$GITHUB_OUTPUT` (the
//! step's outputs), `$GITHUB_STEP_SUMMARY`, `$GITHUB_ENV` (variables for the steps after).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::Result;

/// The files GitHub gives a step: outputs, summary, environment for the steps after; and the
/// file its task writes its record to (`--record`).
pub struct StepFiles {
    pub output: PathBuf,
    pub summary: PathBuf,
    pub env: PathBuf,
    pub record: PathBuf,
}

impl StepFiles {
    pub fn new(dir: &Path, n: usize) -> Result<StepFiles> {
        let files = StepFiles {
            output: dir.join(format!("step-{n}.output")),
            summary: dir.join(format!("step-{n}.summary.md")),
            env: dir.join(format!("step-{n}.env")),
            record: dir.join(format!("step-{n}.record.json")),
        };
        for file in [&files.output, &files.summary, &files.env] {
            std::fs::write(file, "")?;
        }
        Ok(files)
    }

    pub fn outputs(&self) -> BTreeMap<String, String> {
        read_assignments(&self.output).into_iter().collect()
    }

    pub fn env(&self) -> Vec<(String, String)> {
        read_assignments(&self.env)
    }
}

/// `NAME=value` lines, and `NAME<<DELIMITER` blocks, as GitHub reads `$GITHUB_OUTPUT`.
fn read_assignments(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut lines = text.lines();
    let mut found = Vec::new();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
            found.push((name.to_owned(), value.join("\n")));
        } else if let Some((name, value)) = line.split_once('=') {
            found.push((name.to_owned(), value.to_owned()));
        }
    }
    found
}
