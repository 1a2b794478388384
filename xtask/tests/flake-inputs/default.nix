# Stand-ins for the real flake's inputs, which cannot be fetched here. They are just enough to
# evaluate the *attribute names* of flake.nix's outputs offline: no package value is ever forced,
# so nothing here pretends to build anything. `eachSystem` merges per-system outputs the way
# flake-utils' does.
let
  lib = import ./lib.nix;
in
{
  nixpkgs = ./nixpkgs.nix;
  rust-overlay = ./rust-overlay.nix;
  crane.mkLib = pkgs: { overrideToolchain = f: { }; };
  flake-utils.lib = {
    mkApp = { drv, ... }: { type = "app"; program = lib.getExe drv; };
    eachSystem =
      systems: f:
      builtins.foldl' (
        acc: system:
        acc // builtins.mapAttrs (name: value: (acc.${name} or { }) // { ${system} = value; }) (f system)
      ) { } systems;
  };
}
