//! Test harness for Prometheus's own checker: `promtool` from Debian's `prometheus` package
//! (installed by `scripts/setup.sh`; `KPI_PROMTOOL_BIN` overrides the path).

use std::io::Write;
use std::process::{Command, Stdio};

pub fn promtool_bin() -> String {
    std::env::var("KPI_PROMTOOL_BIN").unwrap_or_else(|_| "promtool".to_owned())
}

/// Runs `promtool check metrics` on an exposition; panics with promtool's findings on failure.
pub fn check_metrics(exposition: &str) {
    let mut child = Command::new(promtool_bin())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("running promtool ({e}): run scripts/setup.sh to install Debian's prometheus package")
        });
    child.stdin.take().expect("stdin").write_all(exposition.as_bytes()).expect("writing to promtool");
    let output = child.wait_with_output().expect("promtool output");
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
