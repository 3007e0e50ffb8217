# Every script in examples/python/ run as a user would, on media made here, checked by what it wrote and printed.
import os
import re
import subprocess
import sys

import cv2

from conftest import SOURCE_DIR, make_images, make_video

EXAMPLES = SOURCE_DIR / "examples" / "python"


def run_example(name, *args):
    result = subprocess.run([sys.executable, str(EXAMPLES / name), *map(str, args)], capture_output=True, text=True,
                            timeout=300, env=os.environ)
    assert result.returncode == 0, f"{name} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_several_videos_writes_a_thumbnail_per_second_of_each(two_videos, tmp_path):
    out = run_example("several_videos.py", tmp_path / "thumbs", *two_videos)
    assert "a.mp4: 40 of 40 frames" in out and "b.mp4: 30 of 30 frames" in out
    written = sorted(p.name for p in (tmp_path / "thumbs").iterdir())
    assert written == ["a_000000.jpg", "a_000025.jpg", "b_000000.jpg", "b_000025.jpg"]  # 25 fps: one per second
    assert cv2.imread(str(tmp_path / "thumbs" / "a_000000.jpg")).shape == (240, 320, 3)


def test_live_stream_processes_frames_as_they_arrive_and_accounts_for_every_one():
    out = run_example("live_stream.py", "--frames", "60")
    assert re.search(r"^frame \d+ at [\d.]+ s: brightness [\d.]+$", out, re.MULTILINE)
    captured, processed, dropped = map(int, re.search(r"(\d+) captured, (\d+) processed, (\d+) dropped", out).groups())
    assert processed == 60
    assert captured == processed + dropped


def test_image_folder_runs_a_python_function_on_every_image_in_parallel(tmp_path):
    folder = make_images(tmp_path / "photos", count=12)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = run_example("image_folder.py", folder, tmp_path / "sketches")
    assert "12 of 13 images written" in out and "1 rejected" in out
    written = sorted(p.name for p in (tmp_path / "sketches").iterdir())
    assert written == [f"img{i:03d}.png" for i in range(12)]
    assert cv2.imread(str(tmp_path / "sketches" / "img000.png"), cv2.IMREAD_UNCHANGED).ndim == 2  # a gray sketch


def test_compare_ways_times_three_ways_that_write_the_same_thumbnails(tmp_path):
    videos = [make_video(tmp_path / "first.mp4", frames=90), make_video(tmp_path / "second.mp4", frames=60)]
    out = run_example("compare_ways.py", tmp_path / "out", *videos)
    rows = re.findall(r"^(sequential \(OpenCV loop\)|thread per video|framepipe pipeline)\s+([\d.]+)\s+([\d.]+)x\s+(\d+)$",
                      out, re.MULTILINE)
    assert [r[0] for r in rows] == ["sequential (OpenCV loop)", "thread per video", "framepipe pipeline"]
    assert {int(r[3]) for r in rows} == {5}  # 3 + 2 thumbnails, every 30th frame, whichever way
    for way in ("sequential", "thread", "framepipe"):
        assert sorted(os.listdir(tmp_path / "out" / way)) == [
            "first_000000.jpg", "first_000030.jpg", "first_000060.jpg", "second_000000.jpg", "second_000030.jpg"]


def test_profile_function_prints_each_stages_time_and_the_verdict(video):
    out = run_example("profile_function.py", video)
    assert "clip.mp4: 50 frames" in out
    stages = re.findall(r"^(\S+)\s+([\d.]+)\s+([\d.]+)\s+\d+%$", out, re.MULTILINE)
    assert [s[0] for s in stages] == ["decode", "convert+resize", "detect_edges", "sink"]
    assert float(dict((s[0], s[1]) for s in stages)["detect_edges"]) > 0
    assert "verdict:" in out
