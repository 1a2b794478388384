{ system, overlays ? [ ] }: { lib = import ./lib.nix; }
