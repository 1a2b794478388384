//! Copies of the repository, for tasks that change it (rollback, bump-version, doctor, workflows).

use std::{fs, path::Path, process::Command};

use super::{binary_for, run, snapshot, temp_dir, workspace_root, Run};

/// The repository's files (tracked and new, as git sees them) in a fresh git repository.
pub fn repo_copy(name: &str) -> std::path::PathBuf {
    let dir = temp_dir(name);
    let root = workspace_root();
    let files = run(Command::new("git")
        .args(["ls-files", "--cached", "--others", "--exclude-standard", "-z"])
        .current_dir(&root));
    for file in files.stdout.split('\0').filter(|f| !f.is_empty()) {
        let (from, to) = (root.join(file), dir.join(file));
        if from.is_file() {
            fs::create_dir_all(to.parent().unwrap()).unwrap();
            fs::copy(from, to).unwrap();
        }
    }
    git(&dir, &["init", "-q"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"]);
    dir
}

pub fn git(dir: &Path, args: &[&str]) {
    let out = run(Command::new("git").args(args).current_dir(dir));
    assert!(out.status.success(), "git {args:?}: {}", out.stderr);
}

pub fn xtask_in(dir: &Path, args: &[&str]) -> Run {
    run(binary_for(args).current_dir(dir).args(args))
}

pub fn read(dir: &Path, file: &str) -> String {
    fs::read_to_string(dir.join(file)).unwrap()
}

/// Every file of the copy, for byte-for-byte comparison.
pub fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = snapshot(dir)
        .into_iter()
        .map(|(p, _, _)| p)
        .filter(|p| !p.components().any(|c| c.as_os_str() == ".git" || c.as_os_str() == "target"))
        .map(|p| (p.strip_prefix(dir).unwrap().display().to_string(), fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}
