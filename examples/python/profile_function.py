"""A per-frame function, with the time each stage takes: is it my code, the decoder, or the disk?

    python3 profile_function.py VIDEO

The function runs as a stage among framepipe's own. The report has every stage's service time (p50, p99), how busy it
was, and a verdict on what limits the run, as it has for C++ stages.
"""
import sys

import cv2

import framepipe


def detect_edges(picture):
    edges = cv2.Canny(cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY), 80, 160)
    return cv2.cvtColor(edges, cv2.COLOR_GRAY2BGR)


def main(video):
    pipeline = framepipe.Pipeline()
    pipeline.add_source(video).add("resize", options={"width": 640}).add(detect_edges).add("null", name="sink")
    report = pipeline.run()
    source = report["sources"][0]
    print(f"{source['name']}: {source['delivered']} frames at {source['fps']:.0f} frames/s")
    print(f"{'stage':<14} {'p50 ms':>8} {'p99 ms':>8} {'busy':>6}")
    for stage in source["stages"]:
        service = stage["service_ms"]
        print(f"{stage['name']:<14} {service['p50']:>8.3f} {service['p99']:>8.3f} {stage['utilisation']:>6.0%}")
    print("end to end:", f"p50 {source['end_to_end_ms']['p50']:.2f} ms, p99 {source['end_to_end_ms']['p99']:.2f} ms")
    print("verdict:", report["verdict"])


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
