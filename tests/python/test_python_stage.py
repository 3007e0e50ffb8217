# A Python stage in a pipeline of C++ stages: what each kind of return value does to the frame, pictures Python keeps,
# errors that name the stage and frame, classes with open/close, types declared by name.
import threading

import cv2
import numpy as np
import pytest

import framepipe
from conftest import read_all, stage_report


def collect(pipeline):
    """Runs the pipeline into a Python loop; returns the pictures and the report."""
    frames = pipeline.frames()
    pictures = [(f.index, f.image) for f in frames]
    return pictures, frames.report


def test_a_blur_in_python_gives_the_same_pictures_as_the_blur_stage(video):
    native = framepipe.Pipeline()
    native.add_source(str(video)).add("blur", options={"ksize": 5})
    python = framepipe.Pipeline()
    python.add_source(str(video)).add(lambda picture: cv2.GaussianBlur(picture, (5, 5), 0))

    def blur_in_place(picture):
        cv2.GaussianBlur(picture, (5, 5), 0, dst=picture)

    in_place = framepipe.Pipeline()
    in_place.add_source(str(video)).add(blur_in_place)
    expected, _ = collect(native)
    assert len(expected) == 50
    for pipeline in (python, in_place):
        got, report = collect(pipeline)
        assert [i for i, _ in got] == list(range(50))
        for (i, a), (_, b) in zip(expected, got):
            assert np.array_equal(a, b), f"frame {i} differs"
        assert report["sources"][0]["delivered"] == 50


def test_returning_a_picture_of_another_size_and_gray_replaces_the_frame(video):
    pipeline = framepipe.Pipeline()
    pipeline.add_source(str(video)).add(
        lambda picture: cv2.cvtColor(picture[::2, ::2].copy(), cv2.COLOR_BGR2GRAY), name="half_gray")
    got, report = collect(pipeline)
    originals = read_all(video)
    assert len(got) == len(originals) == 50
    for (i, picture), original in zip(got, originals):
        assert picture.shape == (120, 160)
        # the decoder may differ from OpenCV's by a level or two in colour conversion
        expected = cv2.cvtColor(original[::2, ::2].copy(), cv2.COLOR_BGR2GRAY)
        assert np.abs(picture.astype(int) - expected.astype(int)).max() <= 3, f"frame {i}"
    assert stage_report(report["sources"][0], "half_gray")["passed"] == 50


def test_returning_false_drops_the_frame_and_counts_it_as_filtered(video):
    pipeline = framepipe.Pipeline()
    pipeline.add_source(str(video)).add(lambda picture: None, name="keep").add(
        lambda picture: False if int(picture[0, 0, 0]) >= 0 and drop_odd.next() else None, name="odd")

    class Alternate:
        n = -1

        def next(self):
            self.n += 1
            return self.n % 2 == 1

    drop_odd = Alternate()
    got, report = collect(pipeline)
    assert [i for i, _ in got] == list(range(0, 50, 2))
    source = report["sources"][0]
    assert stage_report(source, "odd")["filtered"] == 25
    assert source["captured"] == 50 and source["delivered"] == 25


def test_a_serial_python_stage_gets_frames_in_order_and_a_picture_it_keeps_is_not_overwritten(video):
    kept = []
    pipeline = framepipe.Pipeline()
    pipeline.add_source(str(video)).add(lambda picture: kept.append(picture), name="keeper")
    pipeline.run()
    assert len(kept) == 50
    originals = read_all(video)
    for i, (picture, original) in enumerate(zip(kept, originals)):
        assert np.abs(picture.astype(int) - original.astype(int)).max() <= 3, f"frame {i} changed after it was kept"


def test_an_exception_fails_the_run_naming_the_stage_the_frame_and_the_line(video):
    def picky(picture):
        if picky.calls == 7:
            raise ValueError("frame too dark")
        picky.calls += 1

    picky.calls = 0
    pipeline = framepipe.Pipeline()
    pipeline.add_source(str(video)).add(picky)
    with pytest.raises(framepipe.RunError) as failure:
        pipeline.run()
    message = str(failure.value)
    assert "stage 'picky'" in message
    assert "frame 7" in message
    assert "ValueError: frame too dark" in message
    assert "test_python_stage.py:" in message
    assert stage_report(failure.value.report["sources"][0], "picky")["dropped"]["failed"] == 1
    assert isinstance(failure.value, framepipe.Error) and isinstance(failure.value, RuntimeError)


def test_a_wrong_return_type_is_an_error_that_says_what_to_return(video):
    pipeline = framepipe.Pipeline()
    pipeline.add_source(str(video)).add(lambda picture: 42, name="answer")
    with pytest.raises(framepipe.RunError, match=r"stage 'answer' returned a int; return None .* or False"):
        pipeline.run()


def test_a_class_is_made_once_per_input_and_opened_and_closed_once_each(two_videos):
    events = []
    lock = threading.Lock()

    class Counter:
        def __init__(self, step=1):
            self.step = step
            self.frames = 0

        def open(self, info):
            with lock:
                events.append(("open", info["source"], info["width"], info["height"]))

        def process(self, picture):
            self.frames += self.step

        def close(self):
            with lock:
                events.append(("close", self.frames))

    pipeline = framepipe.Pipeline()
    for path in two_videos:
        pipeline.add_source(str(path)).add(Counter, options={"step": 2})
    report = pipeline.run()
    assert sorted(e for e in events if e[0] == "open") == [("open", "a.mp4", 320, 240), ("open", "b.mp4", 256, 144)]
    assert sorted(e for e in events if e[0] == "close") == [("close", 60), ("close", 80)]
    assert [s["delivered"] for s in report["sources"]] == [40, 30]


def test_a_declared_type_is_usable_by_name_in_a_pipeline_file(video, tmp_path):
    @framepipe.stage("test_invert", options={"level": 255})
    class Invert:
        def __init__(self, level):
            self.level = level

        def process(self, picture):
            np.subtract(self.level, picture, out=picture)

    assert "test_invert" in framepipe.stage_types()
    with pytest.raises(framepipe.ConfigError, match="exists already"):
        framepipe.stage("test_invert")
    (tmp_path / "out").mkdir()
    pipeline_file = tmp_path / "invert.yaml"
    pipeline_file.write_text("stages:\n  - { type: test_invert, level: 255 }\n"
                             f"  - {{ type: decimate, every: 10 }}\n  - {{ type: write_images, dir: '{tmp_path / 'out'}', file: '{{frame:06}}.png' }}\n")
    report = framepipe.run(str(pipeline_file), [str(video)])
    assert report["sources"][0]["delivered"] == 5
    written = sorted((tmp_path / "out").iterdir())
    assert len(written) == 5
    first = cv2.imread(str(written[0]))
    assert np.abs((255 - first).astype(int) - read_all(video)[0].astype(int)).mean() < 3
    with pytest.raises(framepipe.ConfigError, match="test_invert"):  # options are checked as a C++ stage's
        pipeline_file.write_text("stages:\n  - { type: test_invert, level: bright }\n")
        framepipe.run(str(pipeline_file), [str(video)])


def test_a_parallel_python_stage_keeps_the_order_for_an_ordered_sink(video):
    pipeline = framepipe.Pipeline(threads=2)
    pipeline.add_source(str(video)).add(lambda p: cv2.GaussianBlur(p, (9, 9), 0), parallel=True, name="par")
    got, report = collect(pipeline)
    assert [i for i, _ in got] == list(range(50))
    assert stage_report(report["sources"][0], "par")["parallel"] is True


def test_profile_spacing_zero_times_every_frame_and_an_hour_times_only_the_first():
    for spacing, timed in ((0, 50), (3600, 1)):
        pipeline = framepipe.Pipeline(profile_spacing=spacing)
        pipeline.add_source("synthetic", frames=50, pattern="counter", width=16, height=8).add("null")
        stage = pipeline.run()["sources"][0]["stages"][0]
        assert stage["processed"] == 50
        assert stage["service_ms"]["count"] == timed
    with pytest.raises(framepipe.ConfigError, match="profile_spacing"):
        framepipe.Pipeline(profile_spacing=-1)
