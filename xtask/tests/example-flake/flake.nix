# A stand-in for the real flake, for tests and machines that cannot fetch flake inputs: no inputs,
# the same attribute names as the real flake ([workspace.metadata.cache]), and derivations built by
# the host's /bin/sh with shell builtins only, so build it with `sandbox = false`.
#
# Like the real flake, the deps layer has a `-source` path and a `nixpkgs.tar.gz` among its build
# inputs, which the push filter must keep out of the cache. `salt` makes each test's copy unique;
# `app` stands in for the application's sources.
{
  outputs = { self }:
    let
      system = "x86_64-linux";
      salt = builtins.readFile ./salt;
      mk = name: script: derivation {
        inherit name system salt;
        builder = "/bin/sh";
        args = [ "-c" script ];
      };
      # The dependency layer's sources: like crane's dummy source from the lock files, they leave
      # out the application (`app`), so an app change does not rebuild the dependencies.
      source = builtins.path { path = ./.; name = "example-source"; filter = path: type: baseNameOf path == "salt"; };
      tarball = builtins.toFile "nixpkgs.tar.gz" "stands in for a nixpkgs archive\n";

      # Layer 1: toolchain, cargo dependencies and dev tools, joined into `deps`.
      toolchain = mk "rust-toolchain-1.84.0" ''echo "rustc 1.84.0 $salt" > $out'';
      # Reads its sources at build time only: they are build inputs, not runtime references.
      cargoDeps = mk "cargo-deps" ''read -r line < ${source}/salt; read -r t < ${tarball}; echo "deps of $line" > $out'';
      devTools = mk "dev-tools" ''echo "cargo-nextest cachix skopeo $salt" > $out'';
      deps = mk "deps" ''echo ${toolchain} ${cargoDeps} ${devTools} > $out'';

      # `app` stands in for the application's sources: a test changes it as a pull request would.
      harness = mk "harness-0.1.0" ''read -r d < ${cargoDeps}; echo "harness ${builtins.readFile ./app} built with $d" > $out'';
      ollama = mk "ollama-0.12.0" ''echo "ollama $salt" > $out'';
      # What the images ship besides the programs: 1 MB that does not compress, as certificates
      # and libraries do not shrink much.
      cacert = mk "cacert-3.0" ''/usr/bin/head -c 1000000 /dev/urandom > $out'';

      # Layer 3, as dockerTools.streamLayeredImage does it: the store holds a small script that
      # refers to what the image ships, never a tarball of it; running the script writes the image
      # (a docker-archive, one layer per path) to stdout. The cache holds each shipped path once,
      # and an app change pushes the new app and a new script, not the image again.
      streamImage = import ./stream-image.nix mk;
      harnessImage = streamImage "harness" [ harness cacert ];
      ollamaImage = streamImage "ollama" [ ollama cacert ];

      # Layer 2: one check per test type, each using the deps layer at build time.
      check = type: mk "harness-${type}" ''read -r d < ${deps}; echo "${type} passed" > $out'';
    in
    {
      packages.${system} = {
        inherit deps harness harnessImage ollamaImage;
        default = harness;
      };
      checks.${system} = builtins.listToAttrs (map (t: { name = t; value = check t; }) [ "unit" "clippy" "fmt" "integration" ]);
    };
}
