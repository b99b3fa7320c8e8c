#!/usr/bin/env bash
# Builds and runs the server: installs GStreamer's packages when missing, then
# `cargo run --release`. Arguments go to the server (e.g. ./run.sh --conf-file kurento.conf.json).
set -euo pipefail
cd "$(dirname "$0")"
scripts/system-packages.sh build
exec cargo run --release --bin kurento-media-server -- "$@"
