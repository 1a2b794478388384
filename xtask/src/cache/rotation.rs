//! A signing key's rotation on a cache this project signs, under the cache's lock: the new key
//! signs every narinfo a trusted key vouches for whose bytes check out ([`Rotation::add`]), a pass
//! at a time until one finds nothing left (a push under way may add narinfos); once runners trust
//! the new key, the old key's signatures go ([`Rotation::retire`]), refused while a narinfo would
//! be left without a trusted signature. Signatures are only added, then only removed, a narinfo
//! at a time and each written whole: stopped at any point, every narinfo is still signed by the
//! old key, and running the step again finishes it.

use anyhow::{ensure, Result};

use super::{
    files::Files,
    gc::Entries,
    lock::Lock,
    roots, signatures,
    signing_key::{key_name, SigningKeys},
    verify::{Checks, KeyCoverage},
};
use crate::nix::Network;

/// What a step of a rotation did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Narinfos it wrote: signed by the new key, or stripped of the old key's signature.
    pub changed: u64,
    /// Narinfos that already were (a resumed rotation).
    pub already: u64,
    /// Narinfos it left alone: the path (or file), and why.
    pub left: Vec<(String, String)>,
    /// The passes over the cache.
    pub passes: u64,
    /// Each key and how many narinfos it signs, after it.
    pub coverage: Vec<KeyCoverage>,
}

/// Passes over the cache at most: each after the first finds only what pushes added meanwhile.
const PASSES: u64 = 5;

/// Where a rotation works, and what it trusts.
pub struct Rotation<'a> {
    /// The cache's files.
    pub files: &'a Files,
    /// Its URL, for Nix.
    pub url: &'a str,
    /// How long a request may stall, and the credentials.
    pub net: &'a Network,
    /// Narinfos written at a time (each batch renews the lock).
    pub batch: usize,
}

impl Rotation<'_> {
    /// Signs with `new` (whose public key is `public`) every narinfo that lacks its signature,
    /// that a key of `trusted` signs, and whose bytes check out; the others are named and left.
    pub fn add(&self, new: &SigningKeys, public: &str, trusted: &[String], lock: &mut Lock) -> Result<Outcome> {
        let keys: Vec<String> = std::iter::once(public.to_owned()).chain(trusted.iter().cloned()).collect();
        let mut rotated = Outcome::default();
        let mut first: Vec<KeyCoverage> = Vec::new();
        loop {
            rotated.passes += 1;
            let entries = self.read()?;
            // The first pass counts every key; a later one the new key's alone (the others' do not
            // change by it), then the others' on what the new key does not sign.
            let counted = if rotated.passes == 1 { &keys[..] } else { &keys[..1] };
            let mut coverage = self.coverage(&entries, counted)?;
            let signed = |path: &String| coverage[0].1.contains(path);
            let lacking: Vec<String> = entries.by_path.keys().filter(|p| !signed(p)).cloned().collect();
            if rotated.passes == 1 {
                rotated.already = (entries.by_path.len() - lacking.len()) as u64;
                first = coverage.iter().map(|(k, _)| k.clone()).collect();
            } else if !lacking.is_empty() {
                coverage.extend(self.coverage(&entries.subset(&lacking), &keys[1..])?);
            }
            let vouched = |p: &String| coverage[1..].iter().any(|(_, paths)| paths.contains(p));
            let (vouched, unvouched): (Vec<String>, Vec<String>) = lacking.into_iter().partition(vouched);
            let trusted_names = names(trusted);
            rotated.left = unvouched
                .into_iter()
                .map(|p| (p, format!("it is signed by no trusted key ({trusted_names}): not re-signed on its word")))
                .collect();
            let last = rotated.passes == PASSES;
            let checks = Checks { files: self.files, url: self.url, net: self.net, keys: &[], upstream: &[] };
            let mut signed = 0;
            // A batch at a time: its bytes checked, then signed, the lease checked and renewed
            // before each (never a write past it).
            for chunk in vouched.chunks(self.batch.max(1)) {
                lock.renew()?;
                let broken = checks.bytes(&entries.subset(chunk))?;
                let is_broken = |p: &String| broken.iter().any(|f| f.path.as_ref() == Some(p));
                let path_of = |f: &super::verify::Finding| f.path.clone().unwrap_or_else(|| f.file.clone());
                rotated.left.extend(broken.iter().map(|f| (path_of(f), f.problem.clone())));
                let sound: Vec<String> = chunk.iter().filter(|p| !is_broken(p)).cloned().collect();
                if last {
                    // Still arriving after the last pass: named, for another run.
                    let arriving = "it arrived while the rotation ran (a push under way): run rotate-key --new again";
                    rotated.left.extend(sound.into_iter().map(|p| (p, arriving.to_owned())));
                    continue;
                }
                lock.renew()?;
                signatures::add(self.files, &entries, &sound, new, self.net)?;
                signed += sound.len();
                eprintln!("  pass {}: {signed} of {} signed with {}", rotated.passes, vouched.len(), names(&keys[..1]));
            }
            rotated.changed += signed as u64;
            if signed == 0 || last {
                // The new key's count as the last pass found it; the others' as the first did.
                let (new_key, _) = coverage.swap_remove(0);
                rotated.coverage = std::iter::once(new_key).chain(first.into_iter().skip(1)).collect();
                return Ok(rotated);
            }
        }
    }

    /// Removes the signatures of `old` (a public key) from every narinfo, once each is signed by
    /// a key of `remaining`; refused, naming them, while one is not.
    pub fn retire(&self, old: &str, remaining: &[String], lock: &mut Lock) -> Result<Outcome> {
        let entries = self.read()?;
        let mut keys = remaining.to_vec();
        keys.push(old.to_owned());
        let coverage = self.coverage(&entries, &keys)?;
        let kept = |path: &String| coverage[..remaining.len()].iter().any(|(_, paths)| paths.contains(path));
        let bare: Vec<&String> = entries.by_path.keys().filter(|p| !kept(p)).collect();
        ensure!(
            bare.is_empty(),
            "refusing to retire {}: {} narinfo(s) are signed by none of the keys that remain ({}), e.g.\n  {}\n\
             sign them first: run `cargo xtask rotate-key --new FILE` again (it finishes an interrupted rotation), \
             or `cargo xtask verify --repair` for those whose bytes do not check out",
            names(&[old.to_owned()]),
            bare.len(),
            names(remaining),
            bare.iter().take(10).map(|p| p.as_str()).collect::<Vec<_>>().join("\n  ")
        );
        let name = key_name(old);
        let carrying: Vec<String> = entries
            .by_path
            .iter()
            .filter(|(_, e)| e.info.sigs.iter().any(|s| key_name(s) == name))
            .map(|(p, _)| p.clone())
            .collect();
        let mut changed = 0;
        for chunk in carrying.chunks(self.batch.max(1)) {
            lock.renew()?;
            changed += signatures::remove(self.files, &entries, chunk, name)?;
            eprintln!("  {changed} of {} stripped of {name}'s signature", carrying.len());
        }
        let mut coverage: Vec<KeyCoverage> = coverage.into_iter().map(|(k, _)| k).collect();
        if let Some(retired) = coverage.last_mut() {
            retired.signs = 0;
        }
        Ok(Outcome {
            changed: changed as u64,
            already: (entries.by_path.len() - carrying.len()) as u64,
            passes: 1,
            coverage,
            left: Vec::new(),
        })
    }

    /// Every narinfo of the cache (over HTTP, of the recorded closures).
    fn read(&self) -> Result<Entries> {
        Entries::read(self.files, &roots::all(self.files)?)
    }

    /// Each key's coverage, read by Nix from the cache (over HTTP, from a mirror of its narinfos).
    fn coverage(
        &self,
        entries: &Entries,
        keys: &[String],
    ) -> Result<Vec<(KeyCoverage, std::collections::BTreeSet<String>)>> {
        let checks = Checks { files: self.files, url: self.url, net: self.net, keys, upstream: &[] };
        checks.coverage(entries)
    }
}

/// The names of public keys, for messages.
fn names(keys: &[String]) -> String {
    keys.iter().map(|k| key_name(k)).collect::<Vec<_>>().join(", ")
}
