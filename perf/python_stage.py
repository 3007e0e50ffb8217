"""What a Python stage costs, against the same work as a C++ stage, measured side by side in one run.

    PYTHONPATH=build/python python3 perf/python_stage.py [--frames N] [--size WxH]

Each entry runs synthetic frames (1080p by default) through one stage and a null sink; the figure is the stage's own
service time per frame from the run's report (median and mean over every frame), which includes, for a Python stage,
taking the GIL, wrapping the frame's pixels as a numpy array (no copy) and the call itself.
  - crossing: a Python function that does nothing: the cost of going into Python and back, per frame
  - blur: the C++ blur stage, cv2.GaussianBlur returning a new picture (copied back into the frame), and
    cv2.GaussianBlur into the frame's own array (dst=picture: no copy)
"""
import argparse

import cv2

import framepipe


def nothing(picture):
    pass


def blur_new(picture):
    return cv2.GaussianBlur(picture, (5, 5), 0)


def blur_in_place(picture):
    cv2.GaussianBlur(picture, (5, 5), 0, dst=picture)


def measure(stage, frames, width, height, **options):
    pipeline = framepipe.Pipeline(threads=1)
    chain = pipeline.add_source("synthetic", frames=frames, width=width, height=height, pattern="counter")
    chain.add(stage, name="measured", options=options).add("null")
    report = pipeline.run()
    service = next(s for s in report["sources"][0]["stages"] if s["name"] == "measured")["service_ms"]
    return service["p50"] * 1000, service["mean"] * 1000  # microseconds


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--size", default="1920x1080")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    entries = [
        ("Python function doing nothing (the crossing)", nothing, {}),
        ("C++ blur stage (ksize 5)", "blur", {"ksize": 5}),
        ("Python cv2.GaussianBlur, returns a new picture", blur_new, {}),
        ("Python cv2.GaussianBlur(dst=picture), in place", blur_in_place, {}),
    ]
    results = [(label, *measure(stage, args.frames, width, height, **options)) for label, stage, options in entries]
    print(f"Python stage cost, {args.frames} frames of {width}x{height}, 1 worker thread (microseconds per frame)")
    print(f"{'entry':<56} {'p50 us':>9} {'mean us':>9}")
    for label, p50, mean in results:
        print(f"{label:<56} {p50:>9.1f} {mean:>9.1f}")
    crossing = results[0][1]
    native = results[1][1]
    print(f"crossing into Python and back: {crossing:.1f} us per frame (goal: under 50 us)")
    print(f"Python blur returning a new picture: {results[2][1] / native:.2f}x the C++ stage")
    print(f"Python blur in place:                {results[3][1] / native:.2f}x the C++ stage")


if __name__ == "__main__":
    main()
