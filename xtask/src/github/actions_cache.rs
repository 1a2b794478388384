//! The GitHub Actions cache's REST API, for what no workflow step can do: delete an entry, so the
//! workflow can save a local binary cache `verify --repair` repaired under the same key (rollback
//! mode). The job's token reaches curl on its stdin, as a header: never in an argument or a file.

use anyhow::{bail, ensure, Context, Result};

use super::names::env::GITHUB_TOKEN;
use crate::command::{Cmd, Io, NoSlots, Stdin};

/// Deletes the entry of `key` for this run's ref; whether there was one.
pub fn delete(key: &str) -> Result<bool> {
    let said = request(key)?.run(&NoSlots)?;
    match said.trim() {
        "200" | "204" => Ok(true),
        "404" => Ok(false),
        code @ ("401" | "403") => bail!(
            "GitHub refused to delete the Actions cache entry {key} (HTTP {code}): the job needs `permissions: actions: write` and its token as {GITHUB_TOKEN}"
        ),
        code => bail!("GitHub answered HTTP {code} to the deletion of the Actions cache entry {key}"),
    }
}

/// `DELETE $GITHUB_API_URL/repos/$GITHUB_REPOSITORY/actions/caches?key=KEY&ref=$GITHUB_REF`.
fn request(key: &str) -> Result<Cmd> {
    let var = |name: &str| {
        std::env::var(name).with_context(|| format!("${name} is not set: the Actions cache is GitHub's, under Actions"))
    };
    let api = std::env::var("GITHUB_API_URL").unwrap_or_else(|_| "https://api.github.com".to_owned());
    let (repository, git_ref) = (var("GITHUB_REPOSITORY")?, var("GITHUB_REF")?);
    let plain = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b));
    let plain_names = plain(&repository) && plain(&git_ref) && plain(key);
    ensure!(plain_names, "refusing to ask GitHub about {repository:?}, {git_ref:?}, {key:?}: not plain names");
    let url = format!("{api}/repos/{repository}/actions/caches?key={key}&ref={git_ref}");
    let args = ["--silent", "--show-error", "--request", "DELETE", "--header", "@-"];
    let args = args.into_iter().chain(["--header", "Accept: application/vnd.github+json"]);
    let args = args.chain(["--output", "/dev/null", "--write-out", "%{http_code}", &url]);
    Ok(Cmd::lits("curl", args)
        .stdin(Stdin::EnvLine { before: "Authorization: Bearer ", var: GITHUB_TOKEN })
        .io(Io::Quiet)
        .hint("it deletes an Actions cache entry through GitHub's REST API"))
}
