#!/usr/bin/env bash
# Builds the cargo-fuzz targets in fuzz/ and runs each for SECONDS_PER_TARGET (default 600),
# one after the other, then prints executions, exec/s and findings per target.
# Exits 1 if any target found a crash, hang or leak (the input is kept in fuzz/artifacts/<target>/;
# replay it with `cargo test --test fuzz_regressions` after copying it to tests/fuzz-corpus/<target>/).
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]
# Environment:
#   FUZZ_TARGETS="dispatch marshal"  run only these targets (default: all in fuzz/fuzz_targets)
#   FUZZ_SANITIZER=address           build with a sanitizer (default none: the code under test is
#                                    safe Rust, and ASan halves the speed and rebuilds everything)
#   FUZZ_ALLOW_HOST_NETWORK=1        run the network-touching targets without a network namespace
#
# cargo-fuzz needs nightly flags; on a stable toolchain RUSTC_BOOTSTRAP=1 unlocks them.
# The dispatch, sdp_offer, ice_candidate and rtp_rtcp targets open real UDP sockets and str0m sends ICE checks
# to whatever candidates the fuzzer invents, so they run in a private network namespace that has
# only loopback (`unshare -n`, needs root or user namespaces); without one they are skipped.
set -euo pipefail

secs="${1:-600}"
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -eq 0 ]; then
    echo "usage: $0 [SECONDS_PER_TARGET]" >&2
    exit 2
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "cargo-fuzz is not installed: cargo install cargo-fuzz" >&2
    exit 2
fi

sanitizer="${FUZZ_SANITIZER:-none}"
targets="${FUZZ_TARGETS:-$(ls fuzz_targets | sed -n 's/\.rs$//p' | sort)}"
network_targets=" dispatch sdp_offer ice_candidate rtp_rtcp "

echo "== building fuzz targets (sanitizer: $sanitizer)"
RUSTC_BOOTSTRAP=1 cargo fuzz build --release --debug-assertions --sanitizer "$sanitizer"
bin_dir="target/x86_64-unknown-linux-gnu/release"

netns_ok=0
if unshare -n sh -c 'ip link set lo up' >/dev/null 2>&1; then
    netns_ok=1
fi

mkdir -p target/fuzz-logs
summary=()
failed=0
for t in $targets; do
    bin="$bin_dir/$t"
    if [ ! -x "$bin" ]; then
        echo "no binary for target $t" >&2
        failed=1
        continue
    fi
    seeds="corpus/$t"
    work="target/fuzz-corpus/$t"   # libFuzzer adds what it learns here, not to the tracked seeds
    artifacts="artifacts/$t"
    log="target/fuzz-logs/$t.log"
    mkdir -p "$seeds" "$work" "$artifacts"
    before=$(ls "$artifacts" | wc -l)
    # Some inputs wait legitimately (getUsedCpu sleeps up to 10 s): a slow unit is reported only
    # past 30 s, so that libFuzzer's slow-unit files do not count as findings below.
    args=("$bin" "$work" "$seeds" -max_total_time="$secs" -timeout=60 -rss_limit_mb=2048
          -report_slow_units=30 -max_len=8192 -print_final_stats=1 -artifact_prefix="$artifacts/")
    if [ -f "dict/$t.dict" ]; then
        args+=(-dict="dict/$t.dict")
    fi
    echo "== $t: ${secs}s (log: fuzz/$log)"
    status=0
    if [[ "$network_targets" == *" $t "* ]]; then
        if [ "$netns_ok" = 1 ]; then
            unshare -n sh -c 'ip link set lo up && exec "$@"' sh "${args[@]}" >"$log" 2>&1 || status=$?
        elif [ "${FUZZ_ALLOW_HOST_NETWORK:-0}" = 1 ]; then
            "${args[@]}" >"$log" 2>&1 || status=$?
        else
            echo "   skipped: no network namespace (set FUZZ_ALLOW_HOST_NETWORK=1 to run anyway)"
            summary+=("$(printf '%-16s %12s %10s %s' "$t" "-" "-" "skipped")")
            continue
        fi
    else
        "${args[@]}" >"$log" 2>&1 || status=$?
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    if [ -z "$execs" ]; then
        # A crash ends the run before the final stats: take the last progress line.
        last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
        execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$last")
        rate=$(sed -n 's/.*exec\/s: \([0-9]*\).*/\1/p' <<<"$last")
    fi
    after=$(ls "$artifacts" | wc -l)
    findings=$((after - before))
    if [ "$status" -ne 0 ] && [ "$findings" -eq 0 ]; then
        findings=1   # died without writing an input (e.g. out of memory in the harness itself)
    fi
    result="ok"
    if [ "$findings" -gt 0 ]; then
        failed=1
        result="FINDING: $(ls -t "$artifacts" | head -1) (exit $status)"
        grep -E "panicked at|ERROR: libFuzzer|SUMMARY" "$log" | head -3 | sed 's/^/   /'
    fi
    summary+=("$(printf '%-16s %12s %10s %s' "$t" "${execs:-?}" "${rate:-?}" "$result")")
done

echo
printf '%-16s %12s %10s %s\n' target executions exec/s result
printf '%s\n' "${summary[@]}"
exit "$failed"
