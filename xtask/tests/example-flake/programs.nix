# The programs the runnable images ship, built from the repository's own sources by the host's
# cargo, as the bench workspace's are: the real harness, and the stand-in Ollama server
# (xtask/tests/ollama-standin). Like crane, in two steps: the harness's dependencies (vendored
# from Cargo.lock: each crate checked by its checksum, a `-source` path the push
# filter keeps out) are built once from the manifests alone (`deps`, part of the deps layer), and
# the harness against them. None of it depends on the example flake's salt: the tests' copies
# share one build.
#
# `workspace` is the repository (the flake's source, when the xtask evaluates it as a git
# repository); `toolchain` the directory of the host's cargo. The programs link the host's C
# library: the images ship it (`runtime-libs`) and start them through its loader.
{ system, workspace, toolchain }:
let
  plain = name: script: derivation {
    inherit name system;
    builder = "/bin/sh";
    args = [ "-c" ("set -eu\n" + script) ];
    PATH = "${toolchain}:/usr/local/bin:/usr/bin:/bin";
  };
  lock = builtins.fromTOML (builtins.readFile (workspace + "/Cargo.lock"));
  root = builtins.fromTOML (builtins.readFile (workspace + "/Cargo.toml"));

  # The harness's packages: its dependency closure in the lock file (an entry names a package,
  # and its version when several are locked).
  named = name: builtins.filter (p: p.name == name) lock.package;
  find = entry:
    let words = builtins.filter builtins.isString (builtins.split " " entry);
    in if builtins.length words == 1 then builtins.head (named entry)
    else builtins.head (builtins.filter (p: p.version == builtins.elemAt words 1) (named (builtins.head words)));
  closure = seen: todo:
    if todo == [ ] then seen
    else
      let
        next = builtins.head todo;
        id = "${next.name}-${next.version}";
        rest = builtins.tail todo;
      in
      if builtins.elem id (map (p: "${p.name}-${p.version}") seen) then closure seen rest
      else closure (seen ++ [ next ]) (rest ++ map find (next.dependencies or [ ]));
  crates = builtins.filter (p: p ? checksum) (closure [ ] [ (builtins.head (named "harness")) ]);

  # Each crate by the checksum the lock file holds: from the host's cargo registry cache when it
  # has it (cargo downloaded it for the workspace's own build; rustup names $CARGO_HOME), so no
  # network is needed, else from its origin. Either way Nix checks the bytes against the checksum
  # at evaluation and adds them as the same plain store path, so what depends on it is the same.
  cargoHome = builtins.getEnv "CARGO_HOME";
  registryCache = cargoHome + "/registry/cache";
  cacheDirs =
    if cargoHome != "" && builtins.pathExists registryCache then
      map (d: registryCache + "/" + d)
        (builtins.filter (d: builtins.substring 0 16 d == "index.crates.io-") (builtins.attrNames (builtins.readDir registryCache)))
    else [ ];
  fetch = p:
    let
      file = "${p.name}-${p.version}.crate";
      cached = builtins.filter builtins.pathExists (map (d: d + "/" + file) cacheDirs);
      name = "${p.name}-${p.version}-source";
    in
    if cached != [ ] then
      builtins.path { path = /. + builtins.head cached; inherit name; recursive = false; sha256 = p.checksum; }
    else
      builtins.fetchurl { url = "https://static.crates.io/crates/${p.name}/${file}"; inherit name; sha256 = p.checksum; };
  vendor = plain "harness-vendor" ''
    mkdir $out
    ${builtins.concatStringsSep "\n" (map (p: ''
      mkdir $out/${p.name}-${p.version}
      tar -xzf ${fetch p} -C $out/${p.name}-${p.version} --strip-components=1
      printf '{"files":{},"package":"%s"}' ${p.checksum} > $out/${p.name}-${p.version}/.cargo-checksum.json
    '') crates)}
  '';

  # A workspace of the harness alone, from the root manifest's shared settings.
  toml = v:
    if builtins.isString v then builtins.toJSON v
    else if builtins.isBool v then (if v then "true" else "false")
    else if builtins.isList v then "[${builtins.concatStringsSep ", " (map toml v)}]"
    else if builtins.isAttrs v then "{ ${builtins.concatStringsSep ", " (map (k: "${k} = ${toml v.${k}}") (builtins.attrNames v))} }"
    else toString v;
  table = name: attrs: "[${name}]\n" + builtins.concatStringsSep "" (map (k: "${k} = ${toml attrs.${k}}\n") (builtins.attrNames attrs));
  manifest = builtins.toFile "Cargo.toml" ''
    [workspace]
    members = ["harness"]
    resolver = "${root.workspace.resolver}"

    ${table "workspace.package" root.workspace.package}
    ${table "workspace.dependencies" root.workspace.dependencies}
  '';
  setup = ''
    export HOME=$PWD CARGO_HOME=$PWD/.cargo-home CARGO_TERM_COLOR=never CARGO_PROFILE_DEV_DEBUG=0
    mkdir -p $CARGO_HOME
    printf '[source.crates-io]\nreplace-with = "vendored"\n[source.vendored]\ndirectory = "${vendor}"\n' > $CARGO_HOME/config.toml
    cp ${manifest} Cargo.toml
    cp ${workspace + "/Cargo.lock"} Cargo.lock
    chmod u+w Cargo.toml Cargo.lock
  '';
  harnessManifest = workspace + "/harness/Cargo.toml";
  harnessSources = builtins.path { path = workspace + "/harness"; name = "harness-source"; };

  # The dependencies, from the manifests alone (crane's buildDepsOnly): a harness that is empty.
  deps = plain "harness-deps-0.1.0" ''
    ${setup}
    mkdir -p harness/src
    cp ${harnessManifest} harness/Cargo.toml
    echo 'fn main() {}' > harness/src/main.rs
    export CARGO_TARGET_DIR=$out/target
    cargo build --offline --package harness
    # What the empty harness left would only be rebuilt: keep the dependencies alone.
    find $out/target -name '*harness*' -prune -exec rm -rf {} +
    rm -f $out/target/debug/.cargo-lock $out/target/.rustc_info.json
  '';
  harness = plain "harness-bin-0.1.0" ''
    ${setup}
    cp -r ${harnessSources} harness && chmod -R u+w harness
    # Hard links, not copies: the artifacts are read, never written.
    cp -rl ${deps}/target target && find target -type d -exec chmod u+w {} +
    export CARGO_TARGET_DIR=$PWD/target
    cargo build --offline --package harness
    mkdir -p $out/bin && cp target/debug/harness $out/bin/harness
  '';
  ollama = plain "ollama-standin-bin-0.1.0" ''
    export HOME=$PWD CARGO_HOME=$PWD/.cargo-home CARGO_TERM_COLOR=never CARGO_PROFILE_DEV_DEBUG=0
    cp -r ${builtins.path { path = workspace + "/xtask/tests/ollama-standin"; name = "ollama-standin-source"; }} standin
    chmod -R u+w standin && cd standin
    cargo build --offline
    mkdir -p $out/bin && cp target/debug/ollama-standin $out/bin/ollama
  '';
  # The host's loader and C library, which the programs link: they start through the loader.
  libs = plain "runtime-libs" ''
    mkdir -p $out/lib
    for lib in $(ldd ${harness}/bin/harness ${ollama}/bin/ollama | tr ' \t' '\n\n' | grep '^/.*[^:]$' | sort -u); do
      cp -L $lib $out/lib/
    done
  '';
in
{
  inherit deps;
  harness = [ "${libs}/lib/ld-linux-x86-64.so.2" "--library-path" "${libs}/lib" "${harness}/bin/harness" ];
  ollama = [ "${libs}/lib/ld-linux-x86-64.so.2" "--library-path" "${libs}/lib" "${ollama}/bin/ollama" ];
  harnessContents = [ harness libs ];
  ollamaContents = [ ollama libs ];
}
