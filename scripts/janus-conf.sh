#!/usr/bin/env bash
# Writes a Janus 1.1 configuration for local benchmarks into DIR (created if missing):
# HTTP REST API on 127.0.0.1:PORT/janus only, the VideoRoom plugin only, RTP ports 20000-29999,
# debug_level 3. The packaged /etc/janus loads every plugin and binds to all interfaces, hence a
# config of our own (see /work/shared/test-peers.md §2).
#
# ICE: Janus never gathers on loopback interfaces (src/ice.c skips IFF_LOOPBACK, whatever the
# enforce list says), so it gathers on ICE_IP, by default the first global IPv4 address;
# kurento-loadgen binds its Janus peers to that same address. scripts/bench.sh runs everything
# in a network namespace of its own and sets ICE_IP to its veth address there. Without an enforce list libnice would also
# open a socket per IPv6 address for every PeerConnection.
# Environment: ICE_IP (address to gather on), EVENT_LOOPS (Janus `event_loops`: N shared media
# threads instead of one per handle; unset = Janus's default, one thread per handle).
# Usage: scripts/janus-conf.sh DIR [HTTP_PORT]     then: janus -F DIR -C DIR/janus.jcfg -o
set -euo pipefail
dir=${1:?usage: $0 DIR [HTTP_PORT]}
port=${2:-8088}
ice_ip=${ICE_IP:-$(ip -4 -o addr show scope global 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -1)}
if [[ -z $ice_ip ]]; then
    ice_ip=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -m1 -E '^[0-9]+\.' || true)
fi
if [[ -z $ice_ip ]]; then
    echo "janus-conf.sh: no non-loopback IPv4 address found; Janus cannot do ICE on lo alone" >&2
    exit 1
fi
loops=
if [[ -n ${EVENT_LOOPS:-} ]]; then loops="event_loops = $EVENT_LOOPS"; fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
lib=/usr/lib/x86_64-linux-gnu/janus

cat > "$dir/janus.jcfg" <<EOF
general: {
  configs_folder = "$dir"
  plugins_folder = "$lib/plugins"
  transports_folder = "$lib/transports"
  events_folder = "$lib/events"
  loggers_folder = "$lib/loggers"
  debug_level = 3
  admin_secret = "janusoverlord"
  session_timeout = 60
  interface = "127.0.0.1"
  $loops
}
media: { ipv6 = false rtp_port_range = "20000-29999" }
nat: { ice_enforce_list = "$ice_ip" ignore_mdns = true }
plugins: { disable = "libjanus_audiobridge.so,libjanus_echotest.so,libjanus_recordplay.so,libjanus_sip.so,libjanus_nosip.so,libjanus_textroom.so,libjanus_videocall.so,libjanus_voicemail.so,libjanus_lua.so,libjanus_duktape.so,libjanus_streaming.so" }
transports: { disable = "libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_rabbitmq.so,libjanus_websockets.so" }
loggers: { disable = "libjanus_jsonlog.so" }
events: { broadcast = false }
EOF

cat > "$dir/janus.transport.http.jcfg" <<EOF
general: { json = "compact" base_path = "/janus" http = true port = $port interface = "lo" https = false }
admin: { admin_http = false }
EOF

# kurento-loadgen creates its own room per run; this one is only for manual tries.
cat > "$dir/janus.plugin.videoroom.jcfg" <<EOF
room-1234: { description = "bench" publishers = 16 videocodec = "vp8" audiocodec = "opus" }
EOF
