#!/usr/bin/env bash
# One presenter, N viewers, for this server and for Janus (VideoRoom) side by side, in one run
# (inside a network namespace this script creates, so it needs root):
# for each N, a fresh server process pinned to one core is measured by kurento-loadgen pinned to
# the other, first ours, then Janus. A server drops out of the sweep once its loss passes 1 %.
# Results: target/bench/results.json (+ one JSON per run in target/bench/runs/), then
# scripts/plot.py draws docs/bench.svg and prints the markdown table (also target/bench/table.md).
#
# Usage: scripts/bench.sh [N ...]                      (default N: 10 50 100 200 400)
# Environment (defaults in brackets):
#   BENCH_NS      list of N when no arguments are given ["10 50 100 200 400"]
#   SERVERS       which servers, in order ["ours janus"]; "before" runs BEFORE_BIN, an earlier
#                 build of this server (e.g. the last landed commit), to compare two packet paths
#   BEFORE_BIN    the earlier build's kurento-media-server binary (for SERVERS containing "before")
#   DURATION      measured seconds per run [15]
#   LATE          late joiners per run [2]
#   LOSS_LIMIT    loss % after which a server is not tried at larger N [1]
#   SERVER_CORE / GEN_CORE   cores for the server and the generator [1 / 0]
#   PORT          our server's WebSocket port [28888];  JANUS_PORT  Janus HTTP port [8088]
#   OUT           results file [target/bench/results.json];  SVG  plot [docs/bench.svg]
#   EVENT_LOOPS   passed to scripts/janus-conf.sh (Janus media threads)
#   BUILD=0       skip the build;  PROFILE  cargo profile whose binaries run [release]
set -euo pipefail
cd "$(dirname "$0")/.."

ns=${*:-${BENCH_NS:-10 50 100 200 400}}
servers=${SERVERS:-ours janus}
duration=${DURATION:-15}
late=${LATE:-2}
loss_limit=${LOSS_LIMIT:-1}
server_core=${SERVER_CORE:-1}
gen_core=${GEN_CORE:-0}
port=${PORT:-28888}
janus_port=${JANUS_PORT:-8088}
out=${OUT:-target/bench/results.json}
svg=${SVG:-docs/bench.svg}

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [[ " $servers " == *" janus "* ]] && ! command -v janus >/dev/null; then
    log "installing janus (Debian package)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends janus >/dev/null
fi
if [[ " $servers " == *" before "* ]] && [[ ! -x ${BEFORE_BIN:-} ]]; then
    echo "SERVERS has 'before': set BEFORE_BIN to an earlier build's binary" >&2
    exit 2
fi
for tool in taskset python3 curl; do
    command -v $tool >/dev/null || { log "$tool is required"; exit 1; }
done

# Every viewer is a UDP socket in the generator and a PeerConnection (a few fds) in the server.
# The hard limit here is 20000 and cannot be raised; take what is allowed.
hard=$(ulimit -Hn)
if [[ $hard == unlimited || $hard -gt 20000 ]]; then hard=20000; fi
ulimit -n "$hard"

profile=${PROFILE:-release}
if [[ ${BUILD:-1} != 0 ]]; then
    log "building ($profile)"
    if [[ $profile == release ]]; then
        cargo build --release -p kurento-media-server -p loadgen
    else
        cargo build --profile "$profile" -p kurento-media-server -p loadgen
    fi
fi

# Benchmark traffic stays off the host's interfaces: the sweep itself runs in a network namespace
# of its own, with loopback and a veth pair whose address Janus gathers on (Janus does ICE on
# non-loopback addresses only). Our server and the generator use the namespace's loopback.
if [[ -z ${BENCH_IN_NETNS:-} ]]; then
    netns=kms-bench-$$
    ip netns add "$netns"
    trap 'ip netns del "$netns" 2>/dev/null || true' EXIT
    ip -n "$netns" link set lo up
    ip -n "$netns" link add bench0 type veth peer name bench1
    ip -n "$netns" addr add 10.99.0.1/24 dev bench0
    ip -n "$netns" link set bench0 up
    ip -n "$netns" link set bench1 up
    rc=0
    BENCH_IN_NETNS=1 BUILD=0 ICE_IP=10.99.0.1 ip netns exec "$netns" "$0" "$@" || rc=$?
    exit "$rc"
fi

dir=$profile; [[ $profile == dev ]] && dir=debug
server_bin=target/$dir/kurento-media-server
loadgen_bin=target/$dir/kurento-loadgen

tmp=$(mktemp -d)
server_pid=
stop_server() {
    if [[ -n $server_pid ]]; then
        kill "$server_pid" 2>/dev/null || true
        # Janus takes a moment to tear down; do not let it overlap the next run.
        for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=
    fi
}
trap 'stop_server; rm -rf "$tmp"' EXIT

# Our server: WebSocket on $port, ICE on lo only.
mkdir -p "$tmp/ours/modules/kurento"
printf '{"mediaServer":{"net":{"websocket":{"port":%s}}}}\n' "$port" > "$tmp/ours/kurento.conf.json"
echo 'networkInterfaces=lo' > "$tmp/ours/modules/kurento/WebRtcEndpoint.conf.ini"
scripts/janus-conf.sh "$tmp/janus" "$janus_port"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$port" "$janus_port"; do
    if port_busy "$p"; then log "port $p is already in use: stop what listens there, or set PORT / JANUS_PORT"; exit 1; fi
done

start_server() { # $1 = ours | janus; sets server_pid and url, waits until it answers
    case $1 in
    ours | before)
        bin=$server_bin; [[ $1 == before ]] && bin=$BEFORE_BIN
        RUST_LOG=warn taskset -c "$server_core" "$bin" -f "$tmp/ours/kurento.conf.json" \
            > "$tmp/$1-$2.log" 2>&1 &
        server_pid=$!
        url="ws://127.0.0.1:$port/kurento"
        ready() { port_busy "$port"; }
        ;;
    janus)
        taskset -c "$server_core" janus -F "$tmp/janus" -C "$tmp/janus/janus.jcfg" -o \
            > "$tmp/janus-$2.log" 2>&1 &
        server_pid=$!
        url="http://127.0.0.1:$janus_port/janus"
        ready() { curl -sf -m 1 -XPOST "$url" -d '{"janus":"info","transaction":"r"}' >/dev/null; }
        ;;
    esac
    for _ in $(seq 100); do
        if ready; then return 0; fi
        kill -0 "$server_pid" 2>/dev/null || { log "$1 exited at start"; return 1; }
        sleep 0.1
    done
    log "$1 did not come up"
    return 1
}

runs_dir=$(dirname "$out")/runs
mkdir -p "$runs_dir"
declare -A done_with
python3 - "$out" <<'EOF'
import json, sys, subprocess, platform, os, datetime
def cmd(*a):
    try: return subprocess.run(a, capture_output=True, text=True).stdout.strip()
    except OSError: return None
meta = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(), "cpus": os.cpu_count(), "kernel": platform.release(),
        "commit": cmd("git", "rev-parse", "--short", "HEAD"),
        "janus": cmd("dpkg-query", "-W", "-f=${Version}", "janus"),
        "janus_event_loops": os.environ.get("EVENT_LOOPS"),
        "duration_s": float(os.environ.get("DURATION", "15")),
        "late_joiners": int(os.environ.get("LATE", "2"))}
json.dump({"meta": meta, "runs": []}, open(sys.argv[1], "w"), indent=1)
EOF

for n in $ns; do
    for s in $servers; do
        if [[ -n ${done_with[$s]:-} ]]; then continue; fi
        log "$s: $n viewers, $duration s"
        if ! start_server "$s" "$n"; then done_with[$s]=1; stop_server; continue; fi
        run_json="$runs_dir/$s-$n.json"
        target=kurento; [[ $s == janus ]] && target=janus
        rc=0
        taskset -c "$gen_core" "$loadgen_bin" --target "$target" --url "$url" \
            --viewers "$n" --late-joiners "$late" --duration "$duration" \
            --server-pid "$server_pid" --json > "$run_json" 2> "$tmp/gen-$s-$n.log" || rc=$?
        stop_server
        if [[ $rc != 0 ]]; then
            log "$s at $n: generator failed: $(tail -1 "$tmp/gen-$s-$n.log")"
            done_with[$s]=1
            continue
        fi
        # Append to the results file; stop this server once loss passes the limit.
        over=$(python3 - "$out" "$run_json" "$s" "$n" "$loss_limit" <<'EOF'
import json, sys
out, run, server, n, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
res = json.load(open(out))
rep = json.load(open(run))
res["runs"].append({"server": server, "n": n, "report": rep})
json.dump(res, open(out, "w"), indent=1)
print(1 if rep["packet_loss_pct"] > limit or rep["viewers_connected"] < n else 0)
EOF
)
        log "$s at $n: loss $(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("%.3f %%, p99 %s ms, cpu %s %%" % (r["packet_loss_pct"], r["latency_ms"]["p99"], (r["server"] or {}).get("cpu_avg_pct")))' "$run_json")"
        if [[ $over == 1 ]]; then
            log "$s: loss above $loss_limit % (or viewers missing) at $n, not trying larger N"
            done_with[$s]=1
        fi
        sleep 2
    done
done

mkdir -p "$(dirname "$svg")"
python3 scripts/plot.py "$out" "$svg" | tee "$(dirname "$out")/table.md"
log "results: $out, plot: $svg, table: $(dirname "$out")/table.md"
