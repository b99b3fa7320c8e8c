#!/usr/bin/env bash
# Writes a Janus 1.1 configuration for loopback benchmarks into DIR (created if missing):
# HTTP REST API on 127.0.0.1:PORT/janus only, VideoRoom (+ Streaming) plugins, ICE on lo,
# RTP ports 20000-29999, debug_level 3. The packaged /etc/janus loads every plugin and binds to
# all interfaces, hence a config of our own (see /work/shared/test-peers.md §2).
# Usage: scripts/janus-conf.sh DIR [HTTP_PORT]     then: janus -F DIR -C DIR/janus.jcfg -o
set -euo pipefail
dir=${1:?usage: $0 DIR [HTTP_PORT]}
port=${2:-8088}
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
}
media: { ipv6 = false rtp_port_range = "20000-29999" }
nat: { ice_enforce_list = "lo" ignore_mdns = true }
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
