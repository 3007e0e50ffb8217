#!/usr/bin/python3
"""A real RTSP camera stand-in on 127.0.0.1: GStreamer's RTSP server (Debian's gir1.2-gst-rtsp-server-1.0), the way
IP cameras serve H.264 over RTP. Used by the live tests and by perf/cameras_per_host.

    rtsp_server.py PORT [PATH]                 a moving test pattern, encoded live, shared by every client
    rtsp_server.py --file FILE PORT [PATH]     an H.264 MP4 file's packets untouched (demuxed and packetised, never
                                               decoded), at its own rate; each client gets its own stream from the
                                               start, so N clients are N independent cameras; it ends at the file's end

Serves rtsp://127.0.0.1:PORT/PATH (default path: cam) until killed.
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> int:
    args = sys.argv[1:]
    file = None
    if args[:1] == ["--file"]:
        file, args = args[1], args[2:]
    if not args:
        print(__doc__, file=sys.stderr)
        return 2
    port = args[0]
    path = "/" + (args[1] if len(args) > 1 else "cam")
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    if file is None:
        factory.set_launch(
            "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=25/1 "
            "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 "
            "! rtph264pay name=pay0 pt=96 config-interval=1 )"
        )
        factory.set_shared(True)
    else:
        factory.set_launch(
            f'( filesrc location="{file}" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 )'
        )
        factory.set_shared(False)
    server.get_mount_points().add_factory(path, factory)
    if server.attach(None) == 0:
        print(f"rtsp_server: cannot listen on 127.0.0.1:{port}", file=sys.stderr)
        return 1
    print(f"rtsp_server: rtsp://127.0.0.1:{port}{path}", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
