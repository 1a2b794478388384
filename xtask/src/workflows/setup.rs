//! The steps every job starts with: checkout, the xtask's binary, and (for jobs that build) Nix
//! and the cache as the backend wants it.

use super::{
    graph::{Role, Step, Uses, Value, Word, Xtask},
    pins::{CACHE, CACHIX, CHECKOUT, INSTALL_NIX},
};
use crate::{
    config::{Backend, Config},
    github::names::{env::CACHIX_AUTH_TOKEN, output, step},
};

/// Where `cargo xtask` keeps the binaries it built, under the target directory, by a key of its
/// sources (xtask/launch reads the same name).
pub(crate) const XTASK_BIN: &str = "target/xtask-bin";
/// The files the xtask's binary is built from, as `hashFiles` patterns.
pub const XTASK_SOURCES: [&str; 5] = ["xtask/**", "!xtask/tests/**", "Cargo.lock", "Cargo.toml", ".cargo/config.toml"];

fn uses(role: Role, action: super::pins::Pin, with: Vec<(&'static str, Value)>, comment: &[&str]) -> Step {
    let comment = comment.iter().map(|c| (*c).to_owned()).collect();
    Step::Uses(Uses { role, action, with, comment, disabled: false, id: None, condition: None })
}

/// The steps every job starts with: checkout, the xtask's binary, then (when `nix`) Nix and the
/// cache.
pub fn setup(config: &Config, nix: bool) -> Vec<Step> {
    let patterns: Vec<String> = XTASK_SOURCES.iter().map(|p| format!("'{p}'")).collect();
    let mut steps = vec![
        uses(Role::Checkout, CHECKOUT, vec![("persist-credentials", Value::Lit("false".into()))], &[]),
        uses(
            Role::XtaskBinary,
            CACHE,
            vec![
                ("path", Value::Lit(XTASK_BIN.into())),
                (
                    "key",
                    Value::Lit(format!(
                        "xtask-${{{{ runner.os }}}}-${{{{ runner.arch }}}}-${{{{ hashFiles({}) }}}}",
                        patterns.join(", ")
                    )),
                ),
            ],
            &[
                "The xtask's binary, compiled once per change of its sources: `cargo xtask` runs the one",
                "built from these sources, else builds it (and this step saves it for the jobs after).",
            ],
        ),
    ];
    if !nix {
        return steps;
    }
    // The runner trusts every key of the config: both while a signing key is rotated
    // (`cargo xtask rotate-key`), so what either signed is fetched, not built.
    let trust = match config.public_keys.is_empty() {
        true => Vec::new(),
        false => {
            vec![(
                "extra_nix_config",
                Value::Lit(format!("extra-trusted-public-keys = {}", config.public_keys.join(" "))),
            )]
        }
    };
    let comment: &[&str] = match trust.is_empty() {
        true => &[],
        false => &["Trusts every public key of the config (two while `cargo xtask rotate-key` rotates one)."],
    };
    steps.push(uses(Role::InstallNix, INSTALL_NIX, trust, comment));
    let name = &config.name;
    let cachix = vec![
        ("name", Value::Lit(name.clone())),
        ("authToken", Value::Secret(CACHIX_AUTH_TOKEN)),
        ("skipPush", Value::Lit("true".into())),
    ];
    match config.backend {
        Backend::Cachix => steps.push(uses(
            Role::Cachix,
            CACHIX,
            cachix,
            &["Authenticates and adds the cache as a substituter; the xtask does the pushing."],
        )),
        Backend::CachixDisabled => {
            let comment = "Cachix is disabled (`cargo xtask rollback --disable-cachix`; undo with `cargo xtask rollback --undo`).";
            let Step::Uses(mut off) = uses(Role::Cachix, CACHIX, cachix, &[comment]) else { unreachable!() };
            off.disabled = true;
            steps.push(Step::Uses(off));
        }
        Backend::ActionsCache => {
            steps.push(Step::Xtask(Xtask::new([Word::Lit("cache-key"), Word::Lit("--github-output")]).id(step::KEY)));
            steps.push(uses(
                Role::NixCache,
                CACHE,
                vec![
                    ("path", carried(config)),
                    ("key", Value::Step { step: step::KEY, output: output::CACHE_KEY }),
                    ("restore-keys", Value::Step { step: step::KEY, output: output::RESTORE_KEY }),
                ],
                &[
                    "The GitHub Actions cache over the local binary cache the xtask pushes to",
                    "(`cargo xtask rollback`; undo with `cargo xtask rollback --undo`). When only Cargo.lock",
                    "changed, the newest cache of the same flake.lock is restored.",
                ],
            ));
        }
    }
    steps
}

/// What the actions cache carries of the local binary cache: the directory and its keys (the
/// public keys, the secret key, and the next one of a rotation under way).
pub(crate) fn carried(config: &Config) -> Value {
    let dir = config.local_cache.display().to_string();
    let files = [format!("{dir}.public"), format!("{dir}.secret"), format!("{dir}.next.secret")];
    Value::Lines(std::iter::once(dir).chain(files).collect())
}

/// A step running the xtask that pushes: with the token where the backend uses one.
pub fn pushing(config: &Config, step: Xtask) -> Step {
    match config.backend {
        Backend::Cachix => Step::Xtask(step.env([(CACHIX_AUTH_TOKEN, Value::Secret(CACHIX_AUTH_TOKEN))])),
        _ => Step::Xtask(step),
    }
}
