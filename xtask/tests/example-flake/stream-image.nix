# An image as dockerTools.streamLayeredImage makes it, for flakes without nixpkgs (the example
# flake; the bench workspace gets a copy): the store holds a small script that refers to what the
# image ships, never a tarball of it; running the script writes the image (a docker-archive, one
# layer per path, with the image's config) to stdout, with the host's tar and sha256sum. `mk`
# makes a derivation from a name and a /bin/sh script; `system` says the image's platform.
{ mk, system }:
{ name, contents, entrypoint, env ? [ ], ports ? [ ], volumes ? [ ] }:
let
  architecture = { "x86_64-linux" = "amd64"; "aarch64-linux" = "arm64"; }.${system};
  set = keys: builtins.listToAttrs (map (k: { name = k; value = { }; }) keys);
  config = builtins.toJSON ({ Entrypoint = entrypoint; Env = env; }
    // (if ports == [ ] then { } else { ExposedPorts = set ports; })
    // (if volumes == [ ] then { } else { Volumes = set volumes; }));
in
mk "stream-${name}" ''
  /bin/cat > $out <<'EOS'
#!/bin/sh
set -eu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
layers="" diff_ids="" n=0
for path in ${toString contents}; do
  n=$((n + 1))
  mkdir "$work/$n"
  tar --sort=name --mtime=@1 --owner=0 --group=0 --numeric-owner -C / -cf "$work/$n/layer.tar" "''${path#/}"
  sum=$(sha256sum "$work/$n/layer.tar" | cut -d' ' -f1)
  layers="$layers''${layers:+,}\"$n/layer.tar\""
  diff_ids="$diff_ids''${diff_ids:+,}\"sha256:$sum\""
done
cat > "$work/config.json" <<'CONFIG'
{"architecture":"${architecture}","os":"linux","config":${config},"rootfs":{"type":"layers","diff_ids":[
CONFIG
printf '%s]}}' "$diff_ids" >> "$work/config.json"
printf '[{"Config":"config.json","RepoTags":["${name}:latest"],"Layers":[%s]}]' "$layers" > "$work/manifest.json"
cd "$work" && tar -cf - manifest.json config.json $(seq 1 $n)
EOS
  /bin/chmod +x $out
''
