{
  description = "harness, a small client for an Ollama server, and the cache layers its CI is built from";

  # The binary cache. nixConfig must be literal: `cargo xtask doctor` and the tests check that it
  # names the cache and key of [workspace.metadata.cache] in Cargo.toml.
  nixConfig = {
    extra-substituters = [ "https://nanna-coder.cachix.org" ];
    extra-trusted-public-keys = [ "nanna-coder.cachix.org-1:U/8OwBxzrmKhrghm7KtNA3cRnYR5ioKlB637gbc2BF4=" ];
  };

  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
    flake-utils.url = "github:numtide/flake-utils";
    rust-overlay = {
      url = "github:oxalica/rust-overlay";
      inputs.nixpkgs.follows = "nixpkgs";
    };
    crane.url = "github:ipetkov/crane";
  };

  outputs =
    {
      self,
      nixpkgs,
      flake-utils,
      rust-overlay,
      crane,
    }:
    let
      # The single source of truth: attribute names, the Rust version and the test types.
      cache = (builtins.fromTOML (builtins.readFile ./Cargo.toml)).workspace.metadata.cache;
      # The config's arches: images and CI runners on Linux, packages and shells on macOS too.
      linux = map (arch: "${arch}-linux") cache.arches;
      darwin = map (arch: "${arch}-darwin") cache.arches;
    in
    flake-utils.lib.eachSystem (linux ++ darwin) (
      system:
      let
        pkgs = import nixpkgs {
          inherit system;
          overlays = [ (import rust-overlay) ];
        };
        inherit (pkgs) lib;

        # Layer 1 of the cache strategy: the pinned toolchain with rustfmt and clippy ...
        rustToolchain = pkgs.rust-bin.stable.${cache.rust}.default.override {
          extensions = [ "rustfmt" "clippy" "rust-src" ];
        };
        craneLib = (crane.mkLib pkgs).overrideToolchain (_: rustToolchain);

        # Only Cargo.toml, Cargo.lock, .cargo and .rs files: editing a .rs file changes the source
        # but not the dependency build, whose recipe crane derives from the lock file alone.
        src = craneLib.cleanCargoSource ./.;
        commonArgs = {
          inherit src;
          pname = "nanna-coder";
          version = "0.1.0";
          strictDeps = true;
        };
        # ... the workspace's cargo dependencies, built once ...
        cargoArtifacts = craneLib.buildDepsOnly commonArgs;
        # ... and the dev tools CI uses.
        devTools = [ pkgs.cargo-nextest pkgs.cachix pkgs.skopeo ];

        deps = pkgs.symlinkJoin {
          name = "nanna-coder-deps-${cache.rust}";
          paths = [ rustToolchain cargoArtifacts ] ++ devTools;
        };

        crate =
          name:
          craneLib.buildPackage (
            commonArgs
            // {
              inherit cargoArtifacts;
              pname = name;
              cargoExtraArgs = "--locked --package ${name}";
              doCheck = false;
              meta.mainProgram = name;
            }
          );
        harness = crate "harness";
        # Every task, CI's and the maintainer's (`xtask-tools` runs both).
        xtask = crate "xtask-tools";

        # Layer 3: the images the application ships as (Linux only). Streamed: the store holds a
        # small script and the paths the image ships, never a tarball of them, so the cache holds
        # each path once and an app change pushes only the app and a new script
        # (`cargo xtask build-containers --out/--load/--push` runs the script). nix2container would
        # push less still, but needs a flake input whose pin this project does not have yet.
        # The harness speaks plain HTTP to the ollama container beside it and refuses https://, so
        # its image ships no CA certificates; ollama's keeps them to pull models over HTTPS.
        harnessImage = pkgs.dockerTools.streamLayeredImage {
          name = "harness";
          tag = "latest";
          contents = [ harness ];
          config = {
            Entrypoint = [ (lib.getExe harness) ];
            Cmd = [ "health" ];
            Env = [ "OLLAMA_HOST=http://ollama:11434" ];
          };
        };
        ollamaImage = pkgs.dockerTools.streamLayeredImage {
          name = "ollama";
          tag = "latest";
          contents = [ pkgs.ollama pkgs.cacert ];
          config = {
            Entrypoint = [ (lib.getExe pkgs.ollama) ];
            Cmd = [ "serve" ];
            Env = [
              "OLLAMA_HOST=0.0.0.0:11434"
              "OLLAMA_MODELS=/models"
              "SSL_CERT_FILE=${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt"
            ];
            ExposedPorts."11434/tcp" = { };
            Volumes."/models" = { };
          };
        };
        images = {
          harness = harnessImage;
          ollama = ollamaImage;
        };

        # Layer 2: one check per test type of the config, all reusing the deps artifacts. The
        # config's cargo command is the one definition of each type: `cargo xtask test --no-nix`
        # runs it with cargo; here its subcommand picks crane's builder and its arguments follow.
        check =
          type:
          let
            command = cache.tests.${type};
            subcommand = builtins.head command;
            args = builtins.tail command;
          in
          if subcommand == "test" then
            craneLib.cargoNextest (
              commonArgs
              // {
                # Two test types run nextest: the name says which.
                pname = "nanna-coder-${type}";
                inherit cargoArtifacts;
                cargoNextestExtraArgs = lib.escapeShellArgs args;
              }
            )
          else if subcommand == "clippy" then
            craneLib.cargoClippy (
              commonArgs
              // {
                inherit cargoArtifacts;
                cargoClippyExtraArgs = lib.escapeShellArgs args;
              }
            )
          else if subcommand == "fmt" then
            # crane's cargoFmt adds `-- --check` itself.
            craneLib.cargoFmt (commonArgs // { cargoExtraArgs = lib.escapeShellArgs (lib.remove "--check" args); })
          else
            throw "Cargo.toml's test type `${type}` runs `cargo ${subcommand}`: flake.nix builds checks for test, clippy and fmt; add a builder for it to `check`";
        isLinux = lib.elem system linux;

        # The xtask reads Cargo.toml itself (no cargo at run time): its apps ship the binary alone
        # and use the Nix and git of the machine they run on.
        # Each app carries meta.description, which `nix flake check` asks of every app (Nix 2.25+).
        app = drv: description: {
          type = "app";
          program = lib.getExe drv;
          meta = { inherit description; };
        };
        xtaskApp =
          name: task: description:
          app (pkgs.writeShellApplication {
            inherit name;
            text = ''exec ${lib.getExe xtask} ${task} "$@"'';
          }) description;
      in
      {
        packages =
          {
            ${cache.deps.attr} = deps;
            inherit harness xtask;
            default = harness;
          }
          // lib.optionalAttrs isLinux (
            lib.mapAttrs' (name: attr: lib.nameValuePair attr images.${name}) cache.images
          );

        checks = lib.genAttrs (builtins.attrNames cache.tests) check;

        devShells.default = craneLib.devShell {
          checks = self.checks.${system};
          packages = devTools;
        };

        apps = {
          harness = app harness "A small client for an Ollama server";
          xtask = xtaskApp "xtask" "" "The project's CI and cache strategy, as cargo xtask tasks";
          # The seed's `nix run .#cache-analytics`, from the xtask.
          cache-analytics = xtaskApp "cache-analytics" "analytics" "What the binary cache holds and what it is for";
          default = self.apps.${system}.harness;
        };
      }
    );
}
