//! The dashboard: one self-contained page (inline CSS and SVG, no script, no font, no request:
//! it works opened from disk and on GitHub Pages) of what the cache does over time, from the
//! history's records and, for a cache this project owns, the cache itself ([`Facts`]). Alerts
//! first ([`crate::alerts`]), then each job's hit rate and duration over the runs with key
//! changes marked, the bytes pushed and fetched, the latest pipeline on its critical path, the
//! cache by key and layer, what `gc` would delete, the largest paths and the last `verify`
//! ([`page`], drawn by [`charts`]).

mod charts;
mod page;
mod sections;

use std::{collections::BTreeMap, time::Duration};

use anyhow::Result;

use crate::{
    cache::{
        files::Files,
        gc::{Collection, Entries},
        roots,
    },
    record::Record,
};

/// Everything the page shows.
pub(crate) struct Facts {
    /// The cache, as logs name it.
    pub cache: String,
    pub generated_ms: u64,
    /// The history, oldest first.
    pub records: Vec<Record>,
    /// What could not be read, shown on the page.
    pub problems: Vec<String>,
    pub min_hit_rate: f64,
    /// A cache this project owns, as it is now.
    pub owned: Option<Owned>,
}

/// A cache this project owns, read now.
pub(crate) struct Owned {
    /// Each recorded deps key, newest first: when it was last used, and its paths.
    pub keys: Vec<KeyUse>,
    /// What `gc --keep N` would delete, and N.
    pub gc: Collection,
    pub keep: usize,
    /// The largest paths: store path, NAR bytes, file bytes.
    pub largest: Vec<(String, u64, u64)>,
    pub paths: usize,
    pub file_bytes: u64,
}

/// One deps key of a cache this project owns.
pub(crate) struct KeyUse {
    pub key: String,
    pub updated_ms: u64,
    /// The closure of its recorded paths, as far as the cache has it.
    pub paths: usize,
    pub file_bytes: u64,
}

impl Owned {
    /// Reads the cache's manifests and narinfos once: the keys, gc's preview with `keep` keys
    /// (and no grace: what a collection now would take), the largest paths.
    pub fn read(files: &Files, keep: usize) -> Result<Owned> {
        let manifests = roots::all(files)?;
        let entries = Entries::read(files, &manifests)?;
        let size = |path: &String| entries.by_path.get(path).map_or(0, |e| e.info.file_size.unwrap_or(e.info.nar_size));
        let keys = manifests
            .iter()
            .map(|m| {
                let closure = entries.closure(m.roots.iter().cloned());
                KeyUse {
                    key: m.key.clone(),
                    updated_ms: m.updated,
                    paths: closure.len(),
                    file_bytes: crate::numbers::total(closure.iter().map(size)),
                }
            })
            .collect();
        let mut largest: Vec<(String, u64, u64)> = entries
            .by_path
            .iter()
            .map(|(path, e)| (path.clone(), e.info.nar_size, e.info.file_size.unwrap_or(e.info.nar_size)))
            .collect();
        largest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        largest.truncate(10);
        Ok(Owned {
            keys,
            gc: Collection::of(&manifests, &entries, keep, Duration::ZERO),
            keep,
            largest,
            paths: entries.by_path.len(),
            file_bytes: crate::numbers::total(entries.by_path.keys().map(size)),
        })
    }
}

/// What the history says is wrong.
pub(crate) struct Alert {
    /// `hit-rate` or `regression`.
    pub kind: &'static str,
    /// The record it is about.
    pub record: String,
    pub message: String,
}

impl Facts {
    /// The page.
    pub fn render(&self) -> String {
        page::render(self)
    }

    /// Each job whose latest run was degraded (a job that recovered is history, not an alert),
    /// and each pull request whose pipeline regressed.
    pub fn alerts(&self) -> Vec<Alert> {
        let latest: BTreeMap<String, &Record> = self.records.iter().map(|r| (crate::alerts::job_name(r), r)).collect();
        let mut found = Vec::new();
        for (i, record) in self.records.iter().enumerate() {
            if latest.get(&crate::alerts::job_name(record)).is_none_or(|l| l.id != record.id) {
                continue;
            }
            if let Some(message) = crate::alerts::degraded(record, &self.records[..i], self.min_hit_rate) {
                found.push(Alert { kind: "hit-rate", record: record.id.clone(), message });
            }
        }
        let pipelines: Vec<_> = self.records.iter().filter_map(|r| Some((r, r.pipeline.as_ref()?))).collect();
        for (record, message) in crate::alerts::regressions(&pipelines) {
            found.push(Alert { kind: "regression", record, message });
        }
        found
    }

    /// The records of the jobs by job (`crate::alerts::job_name`), each job's oldest first; a
    /// pipeline's record (`ci`, `history`) is not a job's: the pipeline section shows it.
    pub(crate) fn by_job(&self) -> BTreeMap<String, Vec<&Record>> {
        let mut jobs: BTreeMap<String, Vec<&Record>> = BTreeMap::new();
        for record in self.records.iter().filter(|r| r.pipeline.is_none()) {
            jobs.entry(crate::alerts::job_name(record)).or_default().push(record);
        }
        jobs
    }
}

/// Text for HTML: `&`, `<`, `>`, `"` and `'` escaped, and the controls that reorder or hide text
/// (Unicode's bidirectional controls, C0 and C1) shown as U+FFFD: a record's words cannot make a
/// cell read as something else.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}' => {
                out.push('\u{fffd}')
            }
            c if c.is_control() && c != '\n' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}
