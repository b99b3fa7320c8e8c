#!/usr/bin/python3
"""A live RTSP camera on loopback for the player tests: GStreamer's own RTSP server (gst-rtsp-server
through Debian's PyGObject, hence /usr/bin/python3) serving an H.264 test pattern and Opus tone at rtsp://127.0.0.1:PORT/cam.
Prints "ready" once it listens; runs until killed."""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

Gst.init(None)
port = sys.argv[1] if len(sys.argv) > 1 else "8554"
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 "
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 threads=1 "
    "! video/x-h264,profile=constrained-baseline ! rtph264pay name=pay0 pt=96 config-interval=-1 "
    "audiotestsrc is-live=true wave=sine ! audio/x-raw,rate=48000,channels=2 ! opusenc "
    "! rtpopuspay name=pay1 pt=97 )"
)
factory.set_shared(True)
server.get_mount_points().add_factory("/cam", factory)
if server.attach(None) == 0:
    print("cannot listen", flush=True)
    sys.exit(1)
print("ready", flush=True)
GLib.MainLoop().run()
