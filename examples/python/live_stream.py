"""Frames of a live stream processed as they arrive: the loop is the pipeline's sink.

    python3 live_stream.py [INPUT] [--frames N]

INPUT is a camera URL (rtsp://, http://, udp://), a device (/dev/video0) or, by default, framepipe's built-in
synthetic camera. A live source never waits for the loop: while the loop is busy, the source's edge keeps the newest
frames and drops the oldest, and the report counts every frame it dropped. So the loop always works on a recent
frame instead of falling further and further behind, as a cv2.VideoCapture loop does.
"""
import argparse

import framepipe


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", nargs="?", default="synthetic")
    parser.add_argument("--frames", type=int, default=0, help="stop after this many frames (0: until Ctrl-C)")
    args = parser.parse_args()
    source_options = {"live": True, "fps": 30, "frames": 0} if args.input.startswith("synthetic") else {}

    frames = framepipe.frames(args.input, stages=[("resize", {"width": 320})], **source_options)
    seen = 0
    try:
        for frame in frames:
            brightness = frame.image.mean()  # your per-frame work here
            seen += 1
            if seen % 30 == 0:
                print(f"frame {frame.index} at {frame.time:.2f} s: brightness {brightness:.1f}")
            if seen == args.frames:
                break
    except KeyboardInterrupt:
        pass
    frames.close()
    source = frames.report["sources"][0]
    print(f"{source['name']}: {source['captured']} captured, {source['delivered']} processed, "
          f"{source['dropped']} dropped while the loop was busy")


if __name__ == "__main__":
    main()
