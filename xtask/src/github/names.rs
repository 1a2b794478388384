//! Names that the tasks and the generated workflows share: a rename changes both sides at once.

/// Job and step outputs (`$GITHUB_OUTPUT`).
pub mod output {
    /// The deps key: every task that builds emits it.
    pub(crate) const CACHE_KEY: &str = "cache-key";
    /// The test job's key (`cargo xtask test`).
    pub(crate) const JOB_KEY: &str = "job-key";
    /// The container key of a task that builds one image.
    pub(crate) const CONTAINER_KEY: &str = "container-key";
    /// With several images, one output each: `container-key-<image>`.
    pub(crate) const CONTAINER_KEY_OF: &str = "container-key-";
    /// actions/cache's fallback: the deps key up to its flake.lock hash (rollback mode).
    pub(crate) const RESTORE_KEY: &str = "restore-key";
    /// `true` when `verify --repair` replaced the local cache's Actions cache entry (save it again).
    pub(crate) const REPAIRED: &str = "repaired";
    /// `prebuild --prove`: the manifests publish copies by digest (`[{"image", "arch", "from"}]`).
    pub(crate) const COPIES: &str = "copies";
}

/// Environment variables the workflows set for the tasks.
pub mod env {
    /// The prebuild job's deps key, passed to later jobs to detect lock files changed in between.
    pub const DEPS_CACHE_KEY: &str = "DEPS_CACHE_KEY";
    /// `toJSON(needs)`, for `cargo xtask summary`.
    pub const NEEDS: &str = "NEEDS";
    /// The Cachix token (a repository secret).
    pub const CACHIX_AUTH_TOKEN: &str = "CACHIX_AUTH_TOKEN";
    /// The registry token CI passes to publish images (`secrets.GITHUB_TOKEN` for GHCR).
    pub const REGISTRY_TOKEN: &str = "REGISTRY_TOKEN";
    /// The user the registry token belongs to.
    pub const REGISTRY_USER: &str = "REGISTRY_USER";
    /// The job's token (`github.token`), for the Actions cache's REST API.
    pub const GITHUB_TOKEN: &str = "GITHUB_TOKEN";
}

/// Step ids the workflows refer to.
pub mod step {
    /// The prebuild job's xtask step: its `cache-key` output, and which legs of later jobs run.
    pub(crate) const PREBUILD: &str = "prebuild";
    /// The step that computes the keys for actions/cache (rollback mode).
    pub const KEY: &str = "key";
    /// The cache-warming workflow's `verify --repair` (rollback mode).
    pub(crate) const VERIFY: &str = "verify";
}
