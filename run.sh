#!/usr/bin/env bash
# Builds and runs the server: checks the Rust toolchain, installs GStreamer's packages when
# missing, then `cargo run --release` (the binary is target/release/kurento-media-server). Arguments go to the server (e.g. ./run.sh --conf-file kurento.conf.json).
set -euo pipefail
cd "$(dirname "$0")"
scripts/toolchain.sh run
scripts/system-packages.sh build
exec cargo run --release --bin kurento-media-server -- "$@"
