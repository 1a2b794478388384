//! What Nix says in words (its errors), where a task acts on it or reports it: a flake input it
//! could not download, a deletion refused because the path is alive, the line saying why it failed.

/// An evaluation that failed because a flake input could not be downloaded says so, and how to
/// go on without network; any other failure is Nix's own words. 2.8 says `error: unable to
/// download 'URL': CAUSE`; 2.34 wraps it (`error: Failed to open archive (Source threw exception:
/// error: unable to download 'URL': CAUSE)`).
pub fn explain_eval_failure(err: anyhow::Error) -> anyhow::Error {
    let text = format!("{err:#}");
    let download = text.lines().filter(|l| l.contains("error:")).find_map(|l| {
        let what = l.split("unable to download ").nth(1)?.trim_end();
        // 2.34's wrapper closes its parenthesis after the cause: that one, not the cause's own.
        let what = if l.contains("(Source threw exception: ") { what.strip_suffix(')').unwrap_or(what) } else { what };
        Some(what.to_owned())
    });
    let Some(what) = download else { return err };
    anyhow::anyhow!(
        "cannot download a flake input: {what}\nIs the network reachable? Without network, run against the \
         example flake, whose inputs are all local: cargo xtask <task> --flake xtask/tests/example-flake"
    )
}

/// The line of a failed command's error that says why (Nix's last `error:`, else its last line).
pub fn cause(err: &anyhow::Error) -> String {
    let text = format!("{err:#}");
    let mut lines = text.lines().rev().map(str::trim).filter(|l| !l.is_empty());
    let last = lines.clone().next();
    let last_error = lines.find_map(|l| l.strip_prefix("error: "));
    last_error.or(last).unwrap_or_default().to_owned()
}

/// The paths `nix store delete` refused because they are alive (a GC root, a running process).
pub fn refused_deletions(text: &str) -> Vec<String> {
    let path =
        |l: &str| Some(l.split("annot delete path '").nth(1)?.split_once("' since it is still alive")?.0.to_owned());
    text.lines().filter_map(path).collect()
}
