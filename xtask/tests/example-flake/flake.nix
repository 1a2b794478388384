# A stand-in for the real flake, for tests and machines that cannot fetch flake inputs: no inputs,
# the same attribute names as the real flake ([workspace.metadata.cache]), and derivations built by
# the host's /bin/sh with shell builtins only, so build it with `sandbox = false`. For
# aarch64-linux too (`extra-platforms = aarch64-linux`): the same shell scripts, stand-ins for an
# arch this machine cannot run.
#
# Like the real flake, the deps layer has a `-source` path and a `nixpkgs.tar.gz` among its build
# inputs, which the push filter must keep out of the cache. `salt` makes each test's copy unique;
# `app` stands in for the application's sources. Evaluated as part of the repository (the xtask
# evaluates a flake in a git work tree as the repository, as `nix build` does) on x86_64-linux, the
# images run real programs: the repository's harness and the stand-in Ollama server, built by the
# host's cargo (`programs.nix`); elsewhere (a copy of this directory) they ship scripts.
{
  outputs = { self }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      salt = builtins.readFile ./salt;
      forSystem = system:
        let
          mk = name: script: derivation {
            inherit name system salt;
            builder = "/bin/sh";
            args = [ "-c" script ];
          };
          # The dependency layer's sources: like crane's dummy source from the lock files, they
          # leave out the application (`app`), so an app change does not rebuild the dependencies.
          source = builtins.path { path = ./.; name = "example-source"; filter = path: type: baseNameOf path == "salt"; };
          tarball = builtins.toFile "nixpkgs.tar.gz" "stands in for a nixpkgs archive\n";

          # Layer 1: toolchain, cargo dependencies and dev tools, joined into `deps`.
          toolchain = mk "rust-toolchain-1.84.0" ''echo "rustc 1.84.0 $salt" > $out'';
          # Reads its sources at build time only: they are build inputs, not runtime references.
          cargoDeps = mk "cargo-deps" ''read -r line < ${source}/salt; read -r t < ${tarball}; echo "deps of $line" > $out'';
          devTools = mk "dev-tools" ''echo "cargo-nextest cachix skopeo $salt" > $out'';
          deps = mk "deps" ''echo ${toolchain} ${cargoDeps} ${devTools} ${if programs then built.deps else ""} > $out'';

          # `app` stands in for the application's sources: a test changes it as a pull request would.
          harness = mk "harness-0.1.0" ''read -r d < ${cargoDeps}; echo "harness ${builtins.readFile ./app} built with $d" > $out'';
          ollama = mk "ollama-0.12.0" ''echo "ollama $salt" > $out'';
          # What the images ship besides the programs: 1 MB that does not compress, as
          # certificates and libraries do not shrink much.
          cacert = mk "cacert-3.0" ''/usr/bin/head -c 1000000 /dev/urandom > $out'';

          # The programs, built by the host's cargo (the xtask evaluates with --impure, and runs
          # under cargo, which names itself in $CARGO), when the repository is the flake's source.
          workspace = ./../../..;
          cargo = builtins.getEnv "CARGO";
          programs = system == "x86_64-linux" && cargo != "" && builtins.pathExists (workspace + "/harness/Cargo.toml");
          built = import ./programs.nix { inherit system workspace; toolchain = dirOf cargo; };

          # Layer 3, as dockerTools.streamLayeredImage does it, with the real images' config: the
          # store holds a small script that refers to what the image ships, never a tarball of it.
          streamImage = import ./stream-image.nix { inherit mk system; };
          harnessImage = streamImage {
            name = "harness";
            contents = [ harness cacert ] ++ (if programs then built.harnessContents else [ ]);
            entrypoint = if programs then built.harness else [ "${harness}" ];
            env = [ "OLLAMA_HOST=http://ollama:11434" ];
          };
          ollamaImage = streamImage {
            name = "ollama";
            contents = [ ollama cacert ] ++ (if programs then built.ollamaContents else [ ]);
            entrypoint = if programs then built.ollama else [ "${ollama}" ];
            env = [ "OLLAMA_HOST=0.0.0.0:11434" "OLLAMA_MODELS=/models" ];
            ports = [ "11434/tcp" ];
            volumes = [ "/models" ];
          };

          # Layer 2: one check per test type, each using the deps layer at build time. A test
          # makes one fail by adding a file `fail-<type>` to git.
          fails = type: builtins.pathExists (./. + "/fail-${type}");
          check = type: mk "harness-${type}"
            ''read -r d < ${deps}; ${if fails type then "echo '${type} failed' >&2; exit 1; " else ""}echo "${type} passed" > $out'';
        in
        {
          packages = {
            inherit deps harness harnessImage ollamaImage;
            default = harness;
          };
          checks = builtins.listToAttrs (map (t: { name = t; value = check t; }) [ "unit" "clippy" "fmt" "integration" ]);
        };
      each = attr: builtins.listToAttrs (map (system: { name = system; value = (forSystem system).${attr}; }) systems);
    in
    {
      packages = each "packages";
      checks = each "checks";
    };
}
