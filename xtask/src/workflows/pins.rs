//! Actions pinned to the commit of a release tag (shared/reference/action-pins.json).

/// An action pinned to a commit: `owner/name` (and path), the commit, the release tag it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pin(&'static str, &'static str, &'static str);

pub(crate) const CHECKOUT: Pin = Pin("actions/checkout", "3d3c42e5aac5ba805825da76410c181273ba90b1", "v7.0.1");
pub(crate) const INSTALL_NIX: Pin =
    Pin("cachix/install-nix-action", "630ae543ea3a38a9a4166f03376c02c50f408342", "v31.11.0");
pub(crate) const CACHIX: Pin = Pin("cachix/cachix-action", "1eb2ef646ac0255473d23a5907ad7b04ce94065c", "v17");
/// actions/cache: a directory restored, and saved at the job's end (the xtask's binary, the local binary cache).
pub const CACHE: Pin = Pin("actions/cache", "27d5ce7f107fe9357f9df03efb73ab90386fccae", "v5.0.5");
pub(crate) const CACHE_RESTORE: Pin =
    Pin("actions/cache/restore", "27d5ce7f107fe9357f9df03efb73ab90386fccae", "v5.0.5");
pub(crate) const CACHE_SAVE: Pin = Pin("actions/cache/save", "27d5ce7f107fe9357f9df03efb73ab90386fccae", "v5.0.5");
pub(crate) const UPLOAD_PAGES: Pin =
    Pin("actions/upload-pages-artifact", "fc324d3547104276b827a68afc52ff2a11cc49c9", "v5.0.0");
pub(crate) const DEPLOY_PAGES: Pin = Pin("actions/deploy-pages", "cd2ce8fcbc39b97be8ca5fce6e763baed58fa128", "v5.0.0");

impl Pin {
    /// `owner/name` (and the path of an action inside the repository: `actions/cache/save`).
    pub fn action(&self) -> &'static str {
        self.0
    }

    /// The step's `uses:` line: the action at the commit, the tag said beside it.
    pub fn uses(&self) -> String {
        format!("uses: {}@{} # {}", self.0, self.1, self.2)
    }
}
