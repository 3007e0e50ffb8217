# Fixtures for the Python module's tests: media generated here (ffmpeg and OpenCV from Debian), the module from the
# build tree (ctest sets PYTHONPATH), the command (FRAMEPIPE_BIN) and the source tree (FRAMEPIPE_SOURCE_DIR).
import os
import pathlib
import subprocess

import cv2
import numpy as np
import pytest

SOURCE_DIR = pathlib.Path(os.environ.get("FRAMEPIPE_SOURCE_DIR", pathlib.Path(__file__).resolve().parents[2]))
FRAMEPIPE_BIN = os.environ.get("FRAMEPIPE_BIN", str(SOURCE_DIR / "build" / "framepipe"))


def make_video(path, frames=50, size="320x240", rate=25, codec="libx264", pattern="testsrc2"):
    """A video of `frames` frames of an ffmpeg test pattern with noise (so blur and resize have work to do)."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"{pattern}=size={size}:rate={rate}", "-vf", "noise=alls=20:allf=t", "-frames:v", str(frames),
                    "-c:v", codec, "-pix_fmt", "yuv420p", "-g", "25", str(path)], check=True)
    return path


def make_images(folder, count=12, size=(160, 120)):
    """`count` PNG pictures of random noise with a frame number drawn in."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    for i in range(count):
        picture = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        cv2.putText(picture, str(i), (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
        cv2.imwrite(str(folder / f"img{i:03d}.png"), picture)
    return folder


@pytest.fixture(scope="session")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("media") / "clip.mp4")


@pytest.fixture(scope="session")
def two_videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("two")
    return [make_video(folder / "a.mp4", frames=40), make_video(folder / "b.mp4", frames=30, size="256x144")]


@pytest.fixture(scope="session")
def images(tmp_path_factory):
    return make_images(tmp_path_factory.mktemp("images") / "photos")


def read_all(path):
    """Every picture of a video, decoded by OpenCV (an independent reader)."""
    capture = cv2.VideoCapture(str(path))
    pictures = []
    while True:
        ok, picture = capture.read()
        if not ok:
            return pictures
        pictures.append(picture)


def edge_into(source_report, stage):
    return next(e for e in source_report["edges"] if e["to"] == stage)


def stage_report(source_report, name):
    return next(s for s in source_report["stages"] if s["name"] == name)
