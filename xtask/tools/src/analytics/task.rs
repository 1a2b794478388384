//! `cargo xtask analytics [--json] [--top N] [--path-info FILE]`: the seed's cache analytics
//! ([`crate::analytics`]) over this machine's store, or a saved `nix path-info --json` dump.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::analytics::{self, first_positions, Entry};
use xtask::{
    cache::push_filter::PushFilter,
    command::NoSlots,
    nix::{self, json::parse_path_infos},
    record::Record,
    session::Session,
};

/// The cache analytics: store size, largest paths, layers, the push filter, recommendations.
#[derive(clap::Args, Debug)]
pub struct Analytics {
    /// Print JSON: `{"store", "largest", "layers", "filtered", "recommendations"}`.
    #[arg(long)]
    json: bool,
    /// How many of the largest paths to list.
    #[arg(long, default_value_t = 10, value_name = "N")]
    top: usize,
    /// Read a saved `nix path-info --json --all` (list or object form) instead of the store.
    #[arg(long, value_name = "FILE")]
    path_info: Option<PathBuf>,
}

/// The largest store dump read: about 4 million paths' worth.
const MAX_DUMP: u64 = 4 << 30;

impl Analytics {
    /// Reads this machine's store (or the saved dump) and prints the analysis as Markdown or JSON.
    pub fn run(&self, session: &Session, _record: &mut Record) -> Result<()> {
        let all = nix::all_path_infos();
        let text = match &self.path_info {
            Some(file) => xtask::files::read_bounded(file, MAX_DUMP)
                .map_err(anyhow::Error::from)
                .and_then(|bytes| String::from_utf8(bytes).context("it is not UTF-8 text"))
                .with_context(|| {
                    format!("cannot read {}: save one with `nix path-info --json --all > FILE`", file.display())
                })?,
            None if session.dry_run => {
                println!("# cargo xtask analytics (dry run: nothing is run)\n{}", all.render(None));
                return Ok(());
            }
            None => all.run(&NoSlots)?,
        };
        let started = std::time::Instant::now();
        let entries = entries(&text)?;
        let analysis = analytics::analyse(&entries, &PushFilter::new(session.config.push_filter.clone()), self.top);
        if self.json {
            println!("{}", serde_json::to_string_pretty(&analysis.json())?);
        } else {
            print!("{}", analysis.markdown());
            eprintln!("(analysed {} paths in {:.2}s)", entries.len(), started.elapsed().as_secs_f64());
        }
        Ok(())
    }
}

/// The dump's paths with their references as indices (references outside the dump are left out).
fn entries(text: &str) -> Result<Vec<Entry>> {
    let infos = parse_path_infos(text)?;
    let index = first_positions(infos.iter().map(|info| info.path.as_str()));
    let references: Vec<Vec<usize>> = infos
        .iter()
        .map(|info| info.references.iter().filter_map(|r| index.get(r.as_str()).copied()).collect())
        .collect();
    drop(index);
    Ok(infos
        .into_iter()
        .zip(references)
        .map(|(info, references)| Entry {
            path: info.path,
            nar_size: info.nar_size,
            nar_hash: info.nar_hash,
            references,
        })
        .collect())
}
