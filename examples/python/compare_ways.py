"""Extract frames from two videos, write thumbnails, and compare the ways to run it.

    python3 compare_ways.py OUT_DIR VIDEO [VIDEO ...]

The job: every frame blurred and shrunk to 320 wide, one JPEG thumbnail every 30 frames. Run three ways, timed in one
run: a plain OpenCV loop over the videos one after another, a thread per video (OpenCV releases the GIL while it
decodes and filters), and one framepipe pipeline for all videos. Each way writes its own folder; the thumbnails must
be the same count. For any pipeline file, `framepipe compare PIPELINE VIDEO...` does this (and more) from the shell.
"""
import concurrent.futures
import os
import sys
import time

import cv2

import framepipe

EVERY = 30


def thumbnails_with_opencv(video, out_dir):
    """The hand-written loop."""
    capture = cv2.VideoCapture(video)
    name = os.path.splitext(os.path.basename(video))[0]
    index = written = 0
    while True:
        ok, picture = capture.read()
        if not ok:
            return written
        small = cv2.GaussianBlur(picture, (5, 5), 0)
        small = cv2.resize(small, (320, round(picture.shape[0] * 320 / picture.shape[1])), interpolation=cv2.INTER_AREA)
        if index % EVERY == 0:
            cv2.imwrite(os.path.join(out_dir, f"{name}_{index:06}.jpg"), small)
            written += 1
        index += 1


def sequential(videos, out_dir):
    return sum(thumbnails_with_opencv(v, out_dir) for v in videos)


def thread_per_video(videos, out_dir):
    with concurrent.futures.ThreadPoolExecutor(len(videos)) as pool:
        return sum(pool.map(lambda v: thumbnails_with_opencv(v, out_dir), videos))


def with_framepipe(videos, out_dir):
    pipeline = framepipe.Pipeline()
    for video in videos:
        chain = pipeline.add_source(video)
        chain.add("blur", options={"ksize": 5}).add("resize", options={"width": 320})
        chain.add("thumbnail", options={"every": EVERY, "dir": out_dir, "file": "{input}_{frame:06}.jpg"})
    pipeline.run()
    return len(os.listdir(out_dir))


def main(out_root, videos):
    ways = [("sequential (OpenCV loop)", sequential), ("thread per video", thread_per_video),
            ("framepipe pipeline", with_framepipe)]
    results = []
    for label, way in ways:
        out_dir = os.path.join(out_root, label.split()[0])
        os.makedirs(out_dir, exist_ok=True)
        start = time.perf_counter()
        written = way(videos, out_dir)
        results.append((label, time.perf_counter() - start, written))
    baseline = results[0][1]
    print(f"{'way':<26} {'seconds':>8} {'speed-up':>9} {'thumbnails':>11}")
    for label, seconds, written in results:
        print(f"{label:<26} {seconds:>8.2f} {baseline / seconds:>8.2f}x {written:>11}")
    counts = {written for _, _, written in results}
    if len(counts) != 1:
        sys.exit(f"the ways wrote different numbers of thumbnails: {sorted(counts)}")


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
