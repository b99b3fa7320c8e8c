//! Replays every input under `tests/fuzz-corpus/<target>/` through the same harness the cargo-fuzz
//! target `<target>` runs (`fuzz/harness/`, included here by path), without libFuzzer.
//!
//! The directory holds a few seeds of each target, so the replay path is exercised on every run,
//! plus any input that once crashed a target: copy `fuzz/artifacts/<target>/crash-*` here when
//! fixing it, and it stays fixed.

#[allow(dead_code)]
#[path = "../fuzz/harness/mod.rs"]
mod harness;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "{} has no inputs: the replay would test nothing",
        dir.display()
    );
    files
}

/// Runs `run` on every input of `target`; reports every input that panicked, not just the first.
fn replay(target: &str, run: fn(&[u8])) {
    let mut failures = Vec::new();
    let files = inputs(target);
    for path in &files {
        let data = std::fs::read(path).unwrap();
        if catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
            failures.push(path.display().to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "{target}: {} of {} inputs panicked (messages above):\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn jsonrpc_decode() {
    replay("jsonrpc_decode", harness::jsonrpc_decode::run);
}

#[test]
fn dispatch() {
    replay("dispatch", harness::dispatch::run);
}

#[test]
fn marshal() {
    replay("marshal", harness::marshal::run);
}

#[test]
fn config_json() {
    replay("config_json", harness::config_json::run);
}

#[test]
fn config_ini() {
    replay("config_ini", harness::config_ini::run);
}

#[test]
fn stun_turn() {
    replay("stun_turn", harness::stun_turn::run);
}

#[test]
fn sdp_offer() {
    replay("sdp_offer", harness::sdp_offer::run);
}

#[test]
fn ice_candidate() {
    replay("ice_candidate", harness::ice_candidate::run);
}

/// The harnesses must be able to fail: a panic inside them is seen by `replay`.
#[test]
#[should_panic(expected = "inputs panicked")]
fn replay_reports_a_panicking_input() {
    replay("jsonrpc_decode", |_| panic!("deliberate"));
}

#[test]
fn rtp_rtcp() {
    replay("rtp_rtcp", harness::rtp_rtcp::run);
}

#[test]
fn rtp_sdp() {
    replay("rtp_sdp", harness::rtp_sdp::run);
}
