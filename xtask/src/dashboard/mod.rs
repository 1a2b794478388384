//! The dashboard: one self-contained page (inline CSS and SVG, no script, no font, no request:
//! it works opened from disk and on GitHub Pages) of what the cache does over time, from the
//! history's records and, for a cache this project owns, the cache itself ([`Facts`]): alerts
//! first ([`crate::alerts`]), then a section per question ([`page`], drawn by [`charts`]).

mod charts;
mod page;

use std::{collections::BTreeMap, time::Duration};

use anyhow::Result;

use crate::{
    alerts::{degraded, job_name, regressions},
    cache::{
        files::Files,
        gc::{Collection, Entries},
        roots::{self, Manifest},
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
    /// Each recorded deps key's manifest, newest first.
    pub manifests: Vec<Manifest>,
    pub entries: Entries,
    /// What `gc --keep N` would delete (with no grace: what a collection now would take), and N.
    pub gc: Collection,
    pub keep: usize,
}

impl Owned {
    /// Reads the cache's manifests and narinfos once.
    pub fn read(files: &Files, keep: usize) -> Result<Owned> {
        let manifests = roots::all(files)?;
        let entries = Entries::read(files, &manifests)?;
        let gc = Collection::of(&manifests, &entries, keep, Duration::ZERO);
        Ok(Owned { manifests, entries, gc, keep })
    }

    /// The bytes the files of these paths take in the cache.
    pub fn stored<'a>(&self, paths: impl IntoIterator<Item = &'a String>) -> u64 {
        let size = |path| self.entries.by_path.get(path).map_or(0, |e| e.info.file_size.unwrap_or(e.info.nar_size));
        crate::numbers::total(paths.into_iter().map(size))
    }
}

impl Facts {
    /// What the history says is wrong: each job whose latest run was degraded (a job that
    /// recovered is history, not an alert), and each pull request whose pipeline regressed; each
    /// alert as its kind (`hit-rate` or `regression`), the id of the record it is about, and its words.
    pub fn alerts(&self) -> Vec<(&'static str, String, String)> {
        let latest: BTreeMap<String, &str> = self.records.iter().map(|r| (job_name(r), r.id.as_str())).collect();
        let hit_rates =
            self.records.iter().enumerate().filter(|(_, r)| latest[&job_name(r)] == r.id).filter_map(|(i, r)| {
                Some(("hit-rate", r.id.clone(), degraded(r, &self.records[..i], self.min_hit_rate)?))
            });
        let pipelines: Vec<_> = self.records.iter().filter_map(|r| Some((r, r.pipeline.as_ref()?))).collect();
        let regressed = regressions(&pipelines).into_iter().map(|(record, message)| ("regression", record, message));
        hit_rates.chain(regressed).collect()
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

/// `2026-12-03 08:12 UTC`.
fn date(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year}-{month:02}-{day:02} {:02}:{:02} UTC", rest / 3600, rest % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(date(0), "1970-01-01 00:00 UTC");
        assert_eq!(date(1_796_288_803_209), "2026-12-03 09:06 UTC");
        assert_eq!(date(951_782_400_000), "2000-02-29 00:00 UTC");
    }
}
