"""Several videos at once: a thumbnail every second of each, all inputs in one pipeline sharing every core.

    python3 several_videos.py OUT_DIR VIDEO [VIDEO ...]

The Python way is a thread (or a process) per video, each decoding, resizing and writing on its own. Here each video
gets its own chain of stages (decode, resize, thumbnail) and all chains share one scheduler: no video waits for
another, and none holds more than a few frames in memory.
"""
import sys

import framepipe


def main(out_dir, videos):
    pipeline = framepipe.Pipeline()
    for video in videos:
        chain = pipeline.add_source(video)
        chain.add("resize", options={"width": 320})
        chain.add("thumbnail", options={"interval": "1s", "dir": out_dir})
    report = pipeline.run()
    for source in report["sources"]:
        print(f"{source['name']}: {source['delivered']} of {source['captured']} frames, "
              f"{source['fps']:.0f} frames/s")
    print(f"all {len(videos)} videos in {report['wall_time_ms'] / 1000:.2f} s")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
