//! Every parser of `nix/` on what each tested Nix printed in real runs (`fixtures/nix-<version>/`).

use std::{os::unix::process::ExitStatusExt, process::Output};

use super::{dry_run, json, messages, verify};

/// A fixture of each version, by file name.
macro_rules! each_version {
    ($file:literal) => {
        [
            ("2.8.0", include_str!(concat!("fixtures/nix-2.8.0/", $file))),
            ("2.34.8", include_str!(concat!("fixtures/nix-2.34.8/", $file))),
        ]
    };
}

#[test]
fn path_info_of_a_store_and_of_a_cache_leaves_out_missing_paths() {
    let local = each_version!("path-info-local.json");
    let cache = each_version!("path-info-cache.json");
    for (version, text) in local.into_iter().chain(cache) {
        let infos = json::parse_path_infos(text).unwrap_or_else(|e| panic!("{version}: {e:#}"));
        assert_eq!(infos.len(), 1, "{version}: {infos:?}");
        assert!(infos[0].path.ends_with("-dep") && infos[0].nar_size > 0, "{version}: {infos:?}");
        assert!(infos[0].nar_hash.starts_with("sha256"), "{version}: {infos:?}");
    }
    for (version, text) in cache {
        let url = &json::parse_path_infos(text).unwrap()[0].url;
        assert!(url.starts_with("nar/"), "{version}: the cache's NAR file: {url}");
    }
}

#[test]
fn the_derivation_graph_names_each_derivation() {
    for (version, text) in each_version!("derivation-graph.json") {
        let paths: Vec<String> = json::parse_path_infos(text).unwrap().into_iter().map(|i| i.path).collect();
        assert!(paths.iter().any(|p| p.ends_with("-app.drv")), "{version}: {paths:?}");
        assert!(paths.iter().any(|p| p.ends_with("-dep.drv")), "{version}: {paths:?}");
    }
}

#[test]
fn the_settings_name_this_machines_system() {
    for (version, text) in each_version!("config.json") {
        let settings = json::Settings::parse(text).unwrap();
        assert_eq!(settings.platforms()[0], "x86_64-linux", "{version}");
        assert!(settings.experimental_features().contains(&"flakes".to_owned()), "{version}");
        assert_eq!(settings.words("substituters"), Vec::<String>::new(), "{version}: the capture sets none");
    }
}

#[test]
fn a_dry_run_says_what_it_would_fetch_and_build() {
    for (version, text) in each_version!("dry-run.txt") {
        let found = dry_run::parse(text);
        assert!(found.fetched.len() == 1 && found.fetched.iter().all(|p| p.ends_with("-dep")), "{version}: {found:?}");
        assert!(found.built.len() == 1 && found.built.iter().all(|p| p.ends_with("-app.drv")), "{version}: {found:?}");
        assert!(found.unknown.is_empty(), "{version}");
    }
}

#[test]
fn verify_names_untrusted_and_modified_paths() {
    // What Nix printed and the exit status it ended with, both captured.
    let output = |status: &str, text: &str| Output {
        status: std::process::ExitStatus::from_raw(status.trim().parse::<i32>().unwrap() << 8),
        stdout: Vec::new(),
        stderr: text.as_bytes().to_vec(),
    };
    let untrusted = each_version!("verify-untrusted.txt").into_iter().zip(each_version!("verify-untrusted.status"));
    for ((version, text), (_, status)) in untrusted {
        let verdicts = verify::parse(&output(status, text));
        assert!(verdicts.untrusted.iter().all(|p| p.ends_with("-dep")) && verdicts.untrusted.len() == 1, "{version}");
        assert!(verdicts.modified.is_empty() && !verdicts.failed, "{version}: {verdicts:?}");
    }
    let modified = each_version!("verify-modified.txt").into_iter().zip(each_version!("verify-modified.status"));
    for ((version, text), (_, status)) in modified {
        let verdicts = verify::parse(&output(status, text));
        assert!(verdicts.modified.iter().all(|p| p.ends_with("-dep")) && verdicts.modified.len() == 1, "{version}");
        assert!(!verdicts.failed, "{version}: a verdict, not a failure: {verdicts:?}");
    }
}

#[test]
fn an_unreachable_flake_input_is_named_with_the_way_to_go_on() {
    let causes =
        ["Couldn't resolve host name (6)", "Could not resolve hostname (6) Could not resolve host: inputs.invalid"];
    for ((version, text), cause) in each_version!("eval-download.txt").into_iter().zip(causes) {
        let said = format!("{:#}", messages::explain_eval_failure(anyhow::anyhow!("{text}")));
        let expected = format!("cannot download a flake input: 'https://inputs.invalid/remote.tar.gz': {cause}");
        assert_eq!(said.lines().next(), Some(expected.as_str()), "{version}");
        assert!(
            said.contains("--flake xtask/tests/example-flake") && !said.contains("Source threw"),
            "{version}: {said}"
        );
    }
}

#[test]
fn a_refused_deletion_names_the_path_alive() {
    for (version, text) in each_version!("delete-alive.txt") {
        let refused = messages::refused_deletions(text);
        assert!(refused.len() == 1 && refused[0].ends_with("-dep"), "{version}: {refused:?}");
    }
}

#[test]
fn the_cause_of_a_failure_is_nix_s_last_error_line() {
    for (version, text) in each_version!("eval-download.txt") {
        let cause = messages::cause(&anyhow::anyhow!("{text}"));
        assert!(
            cause.contains("unable to download 'https://inputs.invalid/remote.tar.gz'") && !cause.starts_with("error"),
            "{version}: {cause}"
        );
    }
}

#[test]
fn an_evaluated_target_is_its_derivation_and_outputs() {
    for (version, text) in each_version!("eval-targets.json") {
        let targets = json::parse_targets(text).unwrap();
        assert_eq!(targets.len(), 1, "{version}");
        assert!(targets[0].drv.ends_with("-app.drv"), "{version}: {}", targets[0].drv);
        assert!(targets[0].outputs.len() == 1 && targets[0].outputs[0].ends_with("-app"), "{version}");
    }
}
