# The bench workspace: a flake with no inputs whose derivations do real work, shaped like the
# real flake's crane layering. Built by the host's /bin/sh and its Rust toolchain (the `toolchain`
# file names its bin directory), so build it with `sandbox = false` and `build-users-group =`
# (builds run as the caller, who can read the toolchain). `cargo xtask bench` writes `salt`,
# `toolchain` and `vendor/` (made once with `cargo vendor`) into a copy of this directory.
{
  outputs = { self }:
    let
      system = "x86_64-linux";
      salt = builtins.readFile ./salt;
      toolchain = builtins.readFile ./toolchain;
      # Evaluating a flake that imports nixpkgs and crane takes a second or more; this one costs
      # about as much on purpose, deterministically: a chain of hashes each evaluation computes
      # once, and every derivation carries (no evaluation can skip it). `cargo xtask bench`
      # measures one evaluation and holds each job to it.
      evalCost = builtins.foldl' (acc: i: builtins.hashString "sha256" (acc + toString i)) "" (builtins.genList (i: i) 800000);
      mk = name: script: derivation {
        inherit name system salt evalCost;
        builder = "/bin/sh";
        args = [ "-c" ("set -eu\n" + script) ];
        PATH = "${toolchain}:/usr/bin:/bin";
      };
      only = names: path: type: builtins.elem (baseNameOf path) names;

      # (a) Each crate is fetched from its origin into its own `-source` path (a fixed-output
      # derivation, as crane fetches crates from crates.io; here the origin is the directory
      # `cargo vendor` filled), and the vendor directory copies them: it builds from the sources
      # but does not refer to them, so the push filter can leave them out.
      hashes = import ./vendor.nix;
      crates = builtins.attrNames hashes;
      crateSource = name: derivation {
        name = "${name}-source";
        inherit system;
        builder = "/bin/sh";
        args = [ "-c" "/bin/cp -r ${builtins.readFile ./vendor-dir}/${name} $out" ];
        outputHashMode = "recursive";
        outputHashAlgo = "sha256";
        outputHash = hashes.${name};
      };
      vendor = mk "vendor-cargo-deps" ''
        mkdir $out
        ${builtins.concatStringsSep "\n" (map (n: "cp -r ${crateSource n} $out/${n}") crates)}
      '';
      cargoSetup = ''
        export HOME=$PWD CARGO_HOME=$PWD/.cargo-home CARGO_TERM_COLOR=never
        mkdir -p $CARGO_HOME
        printf '[source.crates-io]\nreplace-with = "vendored"\n[source.vendored]\ndirectory = "${vendor}"\n' > $CARGO_HOME/config.toml
      '';

      # (b) The dependency artifacts, from the lock file alone (crane's buildDepsOnly): a dummy
      # crate with the real manifest, built, tested (--no-run) and checked, so the app and every
      # check reuse them. Editing a .rs file does not change this derivation.
      depsSrc = builtins.path { path = ./.; name = "bench-deps-source"; filter = only [ "Cargo.toml" "Cargo.lock" ]; };
      cargoArtifacts = mk "bench-app-deps-0.1.0" ''
        ${cargoSetup}
        cp -r ${depsSrc} work && chmod -R u+w work && cd work
        mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs
        export CARGO_TARGET_DIR=$out/target
        cargo build --release --offline --locked
        cargo test --release --offline --locked --no-run
        cargo clippy --release --offline --locked --all-targets
        # What the dummy crate left would only be rebuilt: keep the dependencies alone.
        find $out/target -name '*bench_app*' -prune -exec rm -rf {} + -o -name '*bench-app*' -prune -exec rm -rf {} +
        rm -f $out/target/release/.cargo-lock $out/target/.rustc_info.json
      '';

      # (c) The app, against (b): only its own crate compiles.
      appSrc = builtins.path {
        path = ./.;
        name = "bench-app-source";
        filter = path: type: type == "directory" || builtins.match ".*(\\.rs|Cargo\\.toml|Cargo\\.lock|rustfmt\\.toml)" path != null;
      };
      withArtifacts = name: script: mk name ''
        ${cargoSetup}
        cp -r ${appSrc} work && chmod -R u+w work && cd work
        # Hard links, not copies (crane's use-symlink mode, in spirit): the artifacts are read, never
        # written; only the directories must be writable for the app's own files.
        cp -rl ${cargoArtifacts}/target target && find target -type d -exec chmod u+w {} +
        export CARGO_TARGET_DIR=$PWD/target
        ${script}
      '';
      app = withArtifacts "bench-app-0.1.0" ''
        cargo build --release --offline --locked 2>&1 | tee build.log
        mkdir -p $out/bin && cp target/release/bench-app $out/bin/
        cp build.log $out/build.log
      '';

      # (d) One check per test type, against (b).
      checks = {
        unit = withArtifacts "bench-app-unit" "cargo test --release --offline --locked --lib --bins > $out";
        integration = withArtifacts "bench-app-integration" "cargo test --release --offline --locked --tests > $out";
        clippy = withArtifacts "bench-app-clippy" "cargo clippy --release --offline --locked --all-targets -- -D warnings 2> $out";
        fmt = withArtifacts "bench-app-fmt" "cargo fmt --check > $out";
      };

      # (e) The images, under the real flake's attribute names ([workspace.metadata.cache.images]):
      # the app's, and a server's that does not depend on the workspace (as ollama comes from
      # nixpkgs). Streamed, as dockerTools.streamLayeredImage does (the example flake's
      # stream-image.nix): the store holds a small script that writes a docker-archive from the
      # paths the image ships, so an app change pushes the new app and script, not the image again.
      streamImage = import ./stream-image.nix { inherit mk system; };
      server = mk "bench-server-1.0" "mkdir -p $out/bin && printf '#!/bin/sh\\necho serving\\n' > $out/bin/server";
      # What an image ships besides its program (certificates, libraries): 4 MB that does not
      # compress, in a layer of its own, the same for every app change.
      runtime = mk "bench-runtime-1.0" "head -c 4000000 /dev/urandom > $out";
      harnessImage = streamImage { name = "bench-app"; contents = [ app runtime ]; entrypoint = [ "${app}/bin/bench-app" ]; };
      ollamaImage = streamImage { name = "bench-server"; contents = [ server runtime ]; entrypoint = [ "${server}/bin/server" ]; };
      deps = mk "deps" "echo ${cargoArtifacts} ${vendor} > $out";
    in
    {
      packages.${system} = {
        inherit deps app harnessImage ollamaImage;
        default = app;
      };
      checks.${system} = checks;
    };
}
