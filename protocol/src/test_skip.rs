//! How a workspace test that cannot run here says so (shared by every crate's tests): a
//! `SKIPPED <test>: <reason>` line on stderr, and a line in the file `$KMS_TEST_SKIPS` names, so
//! that `test.sh` counts it as skipped rather than passed. Under CI (`CI` set), a skip that would
//! hide a check CI can run panics instead.

use std::io::Write;

/// `ci_must_run`: the machine CI runs on has what the test needs (the set-up installs it), so
/// missing it there is a failure.
pub fn skipped(test: &str, reason: &str, ci_must_run: bool) {
    if ci_must_run && std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("{test} cannot run: {reason}; CI must run it");
    }
    eprintln!("SKIPPED {test}: {reason}");
    if let Some(path) = std::env::var_os("KMS_TEST_SKIPS") {
        let line = format!("{test}: {reason}\n");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path);
        if let Ok(mut f) = file {
            let _ = f.write_all(line.as_bytes());
        }
    }
}
