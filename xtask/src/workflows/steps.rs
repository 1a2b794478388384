//! The steps jobs are made of: the setup every job starts with (checkout, Nix, the cache as the
//! backend wants it), and one `cargo xtask …` call.

use std::fmt::Write as _;

use super::pins::{CACHE, CACHIX, CHECKOUT, INSTALL_NIX};
use crate::{
    config::{Backend, Config},
    github::names::{env::CACHIX_AUTH_TOKEN, output, step},
};

/// `${{ EXPR }}`.
pub fn expr(e: &str) -> String {
    format!("${{{{ {e} }}}}")
}

/// The steps every job starts with: checkout, then (when `nix`) Nix and the cache.
pub fn setup(config: &Config, nix: bool) -> String {
    let mut s = format!("      - {}\n        with:\n          persist-credentials: false\n", CHECKOUT.uses());
    if !nix {
        return s;
    }
    let _ = writeln!(s, "      - {}", INSTALL_NIX.uses());
    let name = &config.name;
    let token = expr(&format!("secrets.{CACHIX_AUTH_TOKEN}"));
    match config.backend {
        Backend::Cachix => {
            let _ = write!(
                s,
                "      # Authenticates and adds the cache as a substituter; the xtask does the pushing.\n\
                 \x20     - {}\n        with:\n          name: {name}\n          authToken: {token}\n          skipPush: true\n",
                CACHIX.uses()
            );
        }
        Backend::CachixDisabled => {
            let _ = write!(
                s,
                "      # Cachix is disabled (`cargo xtask rollback --disable-cachix`; undo with `cargo xtask rollback --undo`).\n\
                 \x20     # - {}\n      #   with:\n      #     name: {name}\n      #     authToken: {token}\n      #     skipPush: true\n",
                CACHIX.uses()
            );
        }
        Backend::ActionsCache => actions_cache(&mut s, config),
    }
    s
}

/// The GitHub Actions cache over the local binary cache directory (rollback mode).
fn actions_cache(s: &mut String, config: &Config) {
    let dir = config.local_cache.display();
    let key = expr(&format!("steps.{}.outputs.{}", step::KEY, output::CACHE_KEY));
    let restore = expr(&format!("steps.{}.outputs.{}", step::KEY, output::RESTORE_KEY));
    let _ = write!(
        s,
        "      - id: {}\n        run: cargo xtask cache-key --github-output\n\
         \x20     # The GitHub Actions cache over the local binary cache the xtask pushes to\n\
         \x20     # (`cargo xtask rollback`; undo with `cargo xtask rollback --undo`). When only Cargo.lock\n\
         \x20     # changed, the newest cache of the same flake.lock is restored.\n\
         \x20     - {}\n        with:\n          path: |\n            {dir}\n            {dir}.public\n            {dir}.secret\n\
         \x20         key: {key}\n          restore-keys: {restore}\n",
        step::KEY,
        CACHE.uses()
    );
}

/// A step running the xtask that pushes: with the token where the backend uses one.
pub fn xtask(config: &Config, id: Option<&str>, args: &str, env: &[(&str, String)]) -> String {
    xtask_step(config.backend == Backend::Cachix, id, None, args, env)
}

/// The same, only when `condition` holds.
pub fn xtask_if(config: &Config, condition: &str, args: &str, env: &[(&str, String)]) -> String {
    xtask_step(config.backend == Backend::Cachix, None, Some(condition), args, env)
}

/// A step running the xtask that pushes nothing: it gets no secret.
pub fn xtask_without_secrets(args: &str, env: &[(&str, String)]) -> String {
    xtask_step(false, None, None, args, env)
}

fn xtask_step(token: bool, id: Option<&str>, condition: Option<&str>, args: &str, env: &[(&str, String)]) -> String {
    let mut s = String::from("      - ");
    if let Some(id) = id {
        let _ = write!(s, "id: {id}\n        ");
    }
    if let Some(condition) = condition {
        let _ = write!(s, "if: {condition}\n        ");
    }
    let _ = writeln!(s, "run: cargo xtask {args}");
    let mut env: Vec<(&str, String)> = env.to_vec();
    if token {
        env.push((CACHIX_AUTH_TOKEN, expr(&format!("secrets.{CACHIX_AUTH_TOKEN}"))));
    }
    if !env.is_empty() {
        s.push_str("        env:\n");
        for (k, v) in env {
            let _ = writeln!(s, "          {k}: {v}");
        }
    }
    s
}
