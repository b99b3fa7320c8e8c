//! Fuzz harnesses for the parsers that see untrusted input, one module per cargo-fuzz target.
//!
//! Each module has `run(&[u8])`, the whole target: `fuzz/fuzz_targets/<name>.rs` calls it under
//! libFuzzer, and `tests/fuzz_regressions.rs` (a plain cargo test of the root crate) includes this
//! file by path and replays every saved input through the very same function. So this code may use
//! only what the root crate's tests already have: the two crates, tokio and serde_json, plus str0m,
//! tracing-subscriber and tempfile for `rtp_rtcp`, which reuses the adapter tests' str0m peer.
//!
//! A harness panics only for a finding: the code under test panicked, hung, or broke an invariant
//! that is checked here (e.g. a reply that is not JSON).

pub mod bytes;
mod config_common;
pub mod config_ini;
pub mod config_json;
pub mod dispatch;
pub mod ice_candidate;
pub mod jsonrpc_decode;
pub mod marshal;
pub mod rtp_rtcp;
pub mod rtp_sdp;
pub mod sdp_offer;
pub mod stun_turn;
mod webrtc_common;

/// A current-thread runtime with I/O and timers, as the server's tasks need. A fresh one per input
/// keeps inputs independent: dropping it ends every task (endpoint actors) the input spawned.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("cannot build a tokio runtime: {e}"))
}
