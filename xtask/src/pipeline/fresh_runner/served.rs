//! What the cache serves of what a fresh runner would fetch, and whether it is sound (its NAR
//! file whole, its signature the key's).

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use crate::nix::{json, verify};
use crate::pipeline::{plan::FreshRunner, state::State};

impl State {
    /// The paths a runner would fetch from the cache that it could not substitute: a NAR file
    /// missing or not of its size (a cache this project owns), or not signed by the key. The
    /// cache's word on each path's size is kept. `known`: what the cache already said of them
    /// (the closure walk asked it), else it is asked.
    pub(super) fn unsound(
        &mut self,
        f: &FreshRunner,
        known: Option<Vec<json::PathInfo>>,
    ) -> Result<BTreeMap<String, String>> {
        let mut broken = BTreeMap::new();
        if self.substituters.is_empty() || self.fetched.is_empty() {
            return Ok(broken);
        }
        let infos = match known {
            Some(infos) => infos,
            None => json::parse_path_infos(&f.fetched.run(self)?)?,
        };
        self.served = infos.iter().map(|i| i.path.clone()).collect();
        self.sizes.extend(infos.iter().map(|i| (i.path.clone(), i.nar_size)));
        self.download.extend(infos.iter().map(|i| (i.path.clone(), i.download_size.unwrap_or(i.nar_size))));
        // The NAR files' sizes, and the signatures: at once.
        let (files, verified) = std::thread::scope(|scope| {
            let files =
                f.files.as_ref().map(|files| scope.spawn(|| crate::pipeline::push::unsound_files(files, &infos)));
            let verified = f.verify.as_ref().filter(|_| !self.served.is_empty()).map(|verify| verify.output(&*self));
            let files = files.map(|t| t.join().unwrap_or_else(|_| bail!("the check of the NAR files panicked")));
            (files, verified)
        });
        broken.extend(files.transpose()?.into_iter().flatten());
        if let Some(verified) = verified {
            let verdicts = verify::parse(&verified?);
            for path in verdicts.untrusted {
                broken.entry(path).or_insert_with(|| "not signed by the key".to_owned());
            }
            // A path Nix could not check (a request that failed, a narinfo gone meanwhile) is
            // not proven signed: no path it served is.
            if verdicts.failed {
                for path in &self.served {
                    broken.entry(path.clone()).or_insert_with(|| "its signature could not be checked".to_owned());
                }
            }
        }
        Ok(broken)
    }
}
