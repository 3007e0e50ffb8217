#!/usr/bin/python3
"""The Python approaches people use today for the same jobs, with Debian's python3-opencv.

    python_jobs.py JOB MODE OUTDIR INPUT...
    JOB:  thumbnails (Gaussian blur 5x5, resize to 320 wide, a JPEG every 30th frame)
          edges      (resize to 640 wide, grayscale, Canny on every frame)
          thumbs_and_edges (both from one decode: the thumbnail branch and the edges branch on every frame, the
                     edges discarded)
    MODE: sequential | threads (one thread per video) | processes (a process pool over the videos)
          | frames (a process pool over single frames, read in the main process)
"""
import concurrent.futures
import os
import sys

import cv2


def work(job, frame):
    if job == "thumbs_and_edges":
        thumbnail = work("thumbnails", frame)
        work("edges", frame)  # computed from the same decoded frame, result discarded
        return thumbnail
    if job == "thumbnails":
        blurred = cv2.GaussianBlur(frame, (5, 5), 0)
        h, w = blurred.shape[:2]
        return cv2.resize(blurred, (320, max(1, round(h * 320 / w))), interpolation=cv2.INTER_AREA)
    h, w = frame.shape[:2]
    small = cv2.resize(frame, (640, max(1, round(h * 640 / w))), interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    return cv2.Canny(gray, 50, 150)


def output(job, outdir, name, index, result):
    if job != "edges" and index % 30 == 0:
        cv2.imwrite(os.path.join(outdir, f"{name}_{index:06d}.jpg"), result, [cv2.IMWRITE_JPEG_QUALITY, 90])


def one_video(job, outdir, path):
    name = os.path.splitext(os.path.basename(path))[0]
    capture = cv2.VideoCapture(path)
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        output(job, outdir, name, index, work(job, frame))
        index += 1
    return index


def frame_task(args):
    job, index, frame = args
    result = work(job, frame)
    return index, (cv2.imencode(".jpg", result, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
                   if job != "edges" and index % 30 == 0 else None)


def frames_mode(job, outdir, inputs):
    total = 0
    with concurrent.futures.ProcessPoolExecutor(os.cpu_count()) as pool:
        for path in inputs:
            name = os.path.splitext(os.path.basename(path))[0]
            capture = cv2.VideoCapture(path)

            def frames():
                index = 0
                while True:
                    ok, frame = capture.read()
                    if not ok:
                        return
                    yield job, index, frame
                    index += 1

            for index, jpeg in pool.map(frame_task, frames(), chunksize=4):
                total += 1
                if jpeg is not None:
                    with open(os.path.join(outdir, f"{name}_{index:06d}.jpg"), "wb") as f:
                        f.write(jpeg)
    return total


def main():
    job, mode, outdir, inputs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    os.makedirs(outdir, exist_ok=True)
    if mode == "sequential":
        total = sum(one_video(job, outdir, path) for path in inputs)
    elif mode == "threads":
        with concurrent.futures.ThreadPoolExecutor(len(inputs)) as pool:
            total = sum(pool.map(lambda p: one_video(job, outdir, p), inputs))
    elif mode == "processes":
        with concurrent.futures.ProcessPoolExecutor(min(len(inputs), os.cpu_count())) as pool:
            total = sum(pool.map(one_video, [job] * len(inputs), [outdir] * len(inputs), inputs))
    elif mode == "frames":
        total = frames_mode(job, outdir, inputs)
    else:
        sys.exit(f"unknown mode {mode}")
    print(total)


if __name__ == "__main__":
    main()
