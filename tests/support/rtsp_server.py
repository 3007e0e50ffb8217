#!/usr/bin/python3
"""A real RTSP camera stand-in on 127.0.0.1 for the live tests: GStreamer's RTSP server (Debian's
gir1.2-gst-rtsp-server-1.0) serving a moving test pattern as H.264 over RTP, the way IP cameras do.

    rtsp_server.py PORT [PATH]      serves rtsp://127.0.0.1:PORT/PATH (default path: cam) until killed
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> int:
    port = sys.argv[1]
    path = "/" + (sys.argv[2] if len(sys.argv) > 2 else "cam")
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=25/1 "
        "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 ! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    factory.set_shared(True)
    server.get_mount_points().add_factory(path, factory)
    if server.attach(None) == 0:
        print(f"rtsp_server: cannot listen on 127.0.0.1:{port}", file=sys.stderr)
        return 1
    print(f"rtsp_server: rtsp://127.0.0.1:{port}{path}", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
