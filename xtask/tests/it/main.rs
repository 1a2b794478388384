//! The xtask's integration tests, one binary: the real xtask binary, real Nix, real nginx, a real
//! registry and container engine. What cannot exist here stands in: the Cachix service (its
//! command lines are tested, not its server) and GitHub's runners (a chroot store is a fresh
//! runner; the workflow files and commands are read back from temporary files).

mod actions_cache;
mod architecture;
mod bad_input;
mod bytes;
mod cache_files;
mod dashboard;
mod explain;
mod faults;
mod flake;
mod history;
mod hostile;
mod images;
mod integrity;
mod key_rotation;
mod keys_and_backends;
mod launcher;
mod local_ci;
mod maintenance;
mod measure;
mod outages;
mod pipeline;
mod records;
mod retention;
mod signatures;
mod smoke;
mod support;
mod workflows;
