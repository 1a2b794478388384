# The few nixpkgs lib functions flake.nix uses to shape its outputs, with nixpkgs' semantics.
{
  elem = builtins.elem;
  optionalAttrs = cond: set: if cond then set else { };
  nameValuePair = name: value: { inherit name value; };
  mapAttrs' = f: set: builtins.listToAttrs (map (n: f n set.${n}) (builtins.attrNames set));
  genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
  getExe = drv: "${drv}/bin/${drv.meta.mainProgram}";
}
