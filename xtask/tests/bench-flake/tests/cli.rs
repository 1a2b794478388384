use std::{
    io::Write,
    process::{Command, Stdio},
};

#[test]
fn prints_the_counts_as_json() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bench-app"))
        .arg("^ca")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"cache cargo cache")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["total"], 3);
    assert_eq!(json["words"]["cache"], 2);
}
