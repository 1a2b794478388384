# The few nixpkgs lib functions flake.nix uses to shape its outputs, with nixpkgs' semantics.
rec {
  elem = builtins.elem;
  remove = e: builtins.filter (x: x != e);
  optionalAttrs = cond: set: if cond then set else { };
  nameValuePair = name: value: { inherit name value; };
  mapAttrs' = f: set: builtins.listToAttrs (map (n: f n set.${n}) (builtins.attrNames set));
  genAttrs = names: f: builtins.listToAttrs (map (n: { name = n; value = f n; }) names);
  # A wrapper's program is what it was made of (its text and runtime inputs), as JSON: a test
  # reads what an app runs from the app itself.
  getExe =
    drv:
    if drv ? text then
      builtins.toJSON {
        inherit (drv) text;
        runtimeInputs = map (p: p.name) drv.runtimeInputs;
      }
    else
      "${drv}/bin/${drv.meta.mainProgram}";
  escapeShellArg =
    arg:
    let
      s = toString arg;
    in
    if builtins.match "[[:alnum:],._+:@%/-]+" s == null then
      "'${builtins.replaceStrings [ "'" ] [ "'\\''" ] s}'"
    else
      s;
  escapeShellArgs = args: builtins.concatStringsSep " " (map escapeShellArg args);
}
