#!/usr/bin/python3
"""Serves an H.264 MP4 file over RTSP on 127.0.0.1, at its own rate, as an IP camera would, for cameras_per_host.py.

    rtsp_file_server.py FILE PORT [PATH]     serves rtsp://127.0.0.1:PORT/PATH (default path: cam) until killed

GStreamer's RTSP server (Debian's gir1.2-gst-rtsp-server-1.0, as tests/support/rtsp_server.py uses). The packets are
sent untouched (demuxed and packetised, never decoded or re-encoded). Each client gets its own stream from the start of
the file (not shared), so N clients are N independent cameras; at the end of the file the stream ends (RTCP BYE).
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, port = sys.argv[1], sys.argv[2]
    mount = "/" + (sys.argv[3] if len(sys.argv) > 3 else "cam")
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        f'( filesrc location="{path}" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 )'
    )
    factory.set_shared(False)
    server.get_mount_points().add_factory(mount, factory)
    if server.attach(None) == 0:
        print(f"rtsp_file_server: cannot listen on 127.0.0.1:{port}", file=sys.stderr)
        return 1
    print(f"rtsp_file_server: rtsp://127.0.0.1:{port}{mount}", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
