"""A folder of images in parallel: a Python function on every picture, written out again.

    python3 image_folder.py FOLDER OUT_DIR

The Python way is a process pool over the file names. Here framepipe reads and decodes the images on its own threads
and runs the function on several pictures at once (parallel=True): OpenCV and numpy release the GIL while they work,
so the cores are shared without a process per core, and nothing is pickled. A bad image is reported and skipped, the
others go on.
"""
import sys

import cv2

import framepipe


def sketch(picture):
    """A pencil sketch of the picture (gray, edges kept): returned as a new picture."""
    gray = cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY)
    blurred = cv2.GaussianBlur(255 - gray, (21, 21), 0)
    return cv2.divide(gray, 255 - blurred, scale=256)


def main(folder, out_dir):
    pipeline = framepipe.Pipeline()
    chain = pipeline.add_source(folder)
    chain.add(sketch, parallel=True)
    chain.add("write_images", options={"dir": out_dir, "file": "{label}.png"})
    report = pipeline.run()
    source = report["sources"][0]
    print(f"{source['delivered']} of {source['captured']} images written to {out_dir}, "
          f"{source['rejected']} rejected, in {report['wall_time_ms'] / 1000:.2f} s")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
