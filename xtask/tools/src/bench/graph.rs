//! The cache question at scale: a deps layer whose build needs a chain of derivations (as
//! nixpkgs' bootstrap does: thousands) and whose runtime closure is two paths. Once it is cached,
//! asking whether a fresh runner would build anything must cost what the runner fetches, not the
//! build graph: the larger chain's question is held to [`QUESTION_S`] and [`OVER_SMALL`].

use std::path::{Path, PathBuf};

use anyhow::Result;

/// The chains' lengths: derivations the deps layer needs at build time.
pub const SIZES: [usize; 2] = [300, 3000];
/// The question of an up-to-date deps layer over the longer chain, at most (seconds).
pub const QUESTION_S: f64 = 0.5;
/// The longer chain's question over the shorter's, at most.
pub const OVER_SMALL: f64 = 1.5;

/// Writes the flake of a chain of `n` derivations into `dir/graph-<n>`: `packages.x86_64-linux.deps`
/// needs the chain to build and refers to one other path.
pub fn flake(dir: &Path, n: usize, salt: &str) -> Result<PathBuf> {
    let flake = dir.join(format!("graph-{n}"));
    std::fs::create_dir_all(&flake)?;
    let nix = format!(
        r#"{{
  outputs = {{ self }}:
    let
      system = "x86_64-linux";
      mk = name: script: derivation {{ inherit name system; salt = "{salt}"; builder = "/bin/sh"; args = [ "-c" script ]; }};
      link = prev: i: mk "link-${{toString i}}" "test -e ${{prev}} && echo ${{toString i}} > $out";
      chain = builtins.foldl' link (mk "link-0" "echo 0 > $out") (builtins.genList (i: i + 1) {n});
      runtime = mk "runtime" "echo runtime > $out";
    in {{ packages.${{system}}.deps = mk "deps" "test -e ${{chain}} && echo ${{runtime}} > $out"; }};
}}
"#
    );
    std::fs::write(flake.join("flake.nix"), nix)?;
    Ok(flake)
}
