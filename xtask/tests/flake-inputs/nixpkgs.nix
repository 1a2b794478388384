# nixpkgs: its lib, and the packages flake.nix names as plain records (a name, and the arguments
# where an image or a wrapper is made), never derivations.
{ system, overlays ? [ ] }:
let
  package = name: {
    inherit name;
    outPath = "/nix/store/stand-in-${name}";
    meta.mainProgram = name;
  };
in
{
  lib = import ./lib.nix;
  # rust-overlay's toolchains, for the Rust version the config names.
  rust-bin.stable.${(builtins.fromTOML (builtins.readFile ../../../Cargo.toml)).workspace.metadata.cache.rust} = {
    default.override = _: package "rust-toolchain";
  };
  cacert = package "cacert";
  ollama = package "ollama";
  cargo-nextest = package "cargo-nextest";
  cachix = package "cachix";
  skopeo = package "skopeo";
  symlinkJoin = args: package args.name // { inherit (args) paths; };
  writeShellApplication =
    args:
    package args.name
    // {
      inherit (args) text;
      runtimeInputs = args.runtimeInputs or [ ];
    };
  dockerTools.streamLayeredImage = args: package "stream-${args.name}" // { image = args; };
}
