# Stand-ins for the real flake's inputs, which cannot be fetched here. They are just enough to
# evaluate flake.nix's outputs offline: nothing is built. Each crane builder returns what the real
# one (crane a669fe7, the pinned revision) would run, transcribed from its source (lib/<name>.nix),
# so a test can compare a check's cargo command with the config's; `eachSystem` merges per-system
# outputs the way flake-utils' does.
let
  lib = import ./lib.nix;
  # lib/mkCargoDerivation.nix: pname is `args.pname or <from Cargo.toml>` plus the builder's
  # suffix; without pname and version crane reads the root Cargo.toml (a workspace, no package)
  # and warns, naming the check `cargo-package-...-0.0.1`.
  derivation =
    builder: suffix: args: command:
    rec {
      inherit builder command;
      name = "${args.pname or "cargo-package"}${suffix}-${args.version or "0.0.1"}";
      outPath = "/nix/store/stand-in-${name}";
      warns = !(args ? pname && args ? version);
      usesDepsLayer = args ? cargoArtifacts && args.cargoArtifacts != null;
      src = args.src or null;
      meta.mainProgram = args.meta.mainProgram or args.pname or "cargo-package";
    };
  craneLib = {
    cleanCargoSource = _: "cleaned-source";
    buildDepsOnly =
      args: derivation "buildDepsOnly" "-deps" args "cargo build --release ${args.cargoExtraArgs or "--locked"}";
    buildPackage =
      args: derivation "buildPackage" "" args "cargo build --release ${args.cargoExtraArgs or "--locked"}";
    # crane builds in its release profile (setupHooks/configureCargoCommonVarsHook.sh:
    # CARGO_PROFILE defaults to release; cargoWithProfile adds --release).
    # lib/cargoNextest.nix: `cargo nextest run --cargo-profile $CARGO_PROFILE ${cargoExtraArgs}
    # ${cargoNextestExtraArgs}`.
    cargoNextest =
      args:
      derivation "cargoNextest" "-nextest" args
        "cargo nextest run --cargo-profile release ${args.cargoExtraArgs or ""} ${args.cargoNextestExtraArgs or ""}";
    # lib/cargoClippy.nix: `cargoWithProfile clippy ${cargoExtraArgs} ${cargoClippyExtraArgs}`.
    cargoClippy =
      args:
      derivation "cargoClippy" "-clippy" args
        "cargo clippy --release ${args.cargoExtraArgs or "--locked"} ${args.cargoClippyExtraArgs or "--all-targets"}";
    # lib/cargoFmt.nix: `cargo fmt ${cargoExtraArgs} -- --check ${rustFmtExtraArgs}`.
    cargoFmt =
      args:
      derivation "cargoFmt" "-fmt" args
        "cargo fmt ${args.cargoExtraArgs or ""} -- --check ${args.rustFmtExtraArgs or ""}";
    devShell = args: {
      name = "devshell";
      outPath = "/nix/store/stand-in-devshell";
    };
  };
in
{
  nixpkgs = ./nixpkgs.nix;
  rust-overlay = ./rust-overlay.nix;
  crane.mkLib = pkgs: { overrideToolchain = f: craneLib; };
  flake-utils.lib = {
    eachSystem =
      systems: f:
      builtins.foldl' (
        acc: system:
        acc // builtins.mapAttrs (name: value: (acc.${name} or { }) // { ${system} = value; }) (f system)
      ) { } systems;
  };
}
