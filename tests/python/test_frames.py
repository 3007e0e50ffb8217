# A Python loop as the pipeline's sink: frames in order, backpressure from a slow loop (a file waits, a live source
# drops on the loop's edge, counted), stopping early, several inputs, Ctrl-C.
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np

import framepipe
from conftest import edge_into, read_all, stage_report


def test_every_frame_of_a_file_arrives_in_order_with_its_source_index_and_time(video):
    frames = framepipe.frames(str(video), stages=[("resize", {"width": 160})])
    seen = [(f.source, f.input, f.index, round(f.time, 3), f.image.shape) for f in frames]
    assert seen == [("clip.mp4", 0, i, round(i / 25, 3), (120, 160, 3)) for i in range(50)]
    source = frames.report["sources"][0]
    assert source["captured"] == source["delivered"] == 50
    assert source["dropped"] == 0


def test_a_live_source_drops_on_its_own_edge_when_the_loop_holds_it_up():
    # With nothing between, the loop's edge is the one after the live source: drop_oldest by default.
    frames = framepipe.frames("synthetic", live=True, fps=1000, frames=200, width=64, height=36)
    first = next(frames)
    time.sleep(0.5)  # the source goes on at its own pace (the test holds whatever the timing)
    indices = [first.index] + [f.index for f in frames]
    source = frames.report["sources"][0]
    into_loop = edge_into(source, "python_loop")
    assert into_loop["overflow"] == "drop_oldest"
    assert indices == sorted(set(indices))
    assert source["captured"] == source["delivered"] + source["dropped"]
    assert source["captured"] + source["skipped_by_source"] == 200  # a camera that fell behind skips (counted too)
    assert len(indices) == source["delivered"]


def test_a_slow_loop_makes_a_file_wait_and_loses_nothing(video):
    frames = framepipe.frames(str(video), stages=["blur"])
    indices = []
    for frame in frames:
        if frame.index % 10 == 0:
            time.sleep(0.05)  # a loop much slower than the decoder, now and then
        indices.append(frame.index)
    assert indices == list(range(50))
    source = frames.report["sources"][0]
    assert source["dropped"] == 0 and source["dropped_at_capture"] == 0
    assert edge_into(source, "python_loop")["overflow"] == "block"
    assert edge_into(source, "python_loop")["peak_depth"] <= 2  # bounded: the file waited instead


def test_a_loop_that_holds_a_live_source_up_drops_on_the_loops_edge_and_counts_every_frame():
    # The loop keeps its first frame until a stage before it has started its 10th: by then 9 frames were pushed at the
    # loop's edge (2 frames, drop_oldest) while the loop held one and the sink offered one, so at least 5 were dropped
    # on that edge, however threads are scheduled. The stage's own edge holds all 100 frames.
    tenth = threading.Event()
    count = [0]

    def tap(picture):
        count[0] += 1
        if count[0] == 10:
            tenth.set()

    pipeline = framepipe.Pipeline()
    pipeline.add_source("synthetic", live=True, fps=1000, frames=100, width=64, height=36).add(tap, capacity=100)
    frames = pipeline.frames(capacity=2, overflow="drop_oldest")
    indices = [next(frames).index]
    assert tenth.wait(60)
    indices += [f.index for f in frames]
    source = frames.report["sources"][0]
    into_loop = edge_into(source, "python_loop")
    assert into_loop["dropped"]["oldest"] >= 5
    assert indices == sorted(set(indices))  # in order, none twice
    assert indices[-1] == source["captured"] - 1  # the newest is never the one dropped
    assert source["captured"] == source["delivered"] + source["dropped"]
    assert len(indices) == source["delivered"]


def test_leaving_the_loop_early_stops_the_sources_and_the_rest_is_counted_as_ended(video):
    with framepipe.frames(str(video)) as frames:
        for frame in frames:
            if frame.index == 9:
                break
    source = frames.report["sources"][0]
    assert source["delivered"] == 10
    assert frames.report["stopped"] is True
    assert stage_report(source, "python_loop")["ended"] <= 1  # the frame it offered when the loop left
    assert source["captured"] == source["delivered"] + source["dropped"] + source["filtered"]  # ended counts as filtered


def test_frames_of_several_inputs_come_through_one_loop_each_in_its_own_order(two_videos):
    frames = framepipe.frames([str(p) for p in two_videos], stages=[lambda p: None])
    per_input = {}
    for frame in frames:
        per_input.setdefault(frame.source, []).append(frame.index)
    assert per_input == {"a.mp4": list(range(40)), "b.mp4": list(range(30))}


def test_the_loop_gets_its_own_copy_of_each_picture(video):
    pictures = [f.image for f in framepipe.frames(str(video))]
    for i, (picture, original) in enumerate(zip(pictures, read_all(video))):
        assert np.abs(picture.astype(int) - original.astype(int)).max() <= 3, f"frame {i}"


def test_ctrl_c_in_the_loop_finishes_the_outputs_then_raises_keyboard_interrupt(video, tmp_path):
    out = tmp_path / "out.mp4"
    script = tmp_path / "loop.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time, framepipe
        pipeline = framepipe.Pipeline()
        chain = pipeline.add_source("synthetic", live=True, fps=50, frames=0, width=160, height=90)
        chain.add("write_video", options={{"path": {str(out)!r}}})
        chain.add(lambda p: None, after="source", name="watch")
        running = False
        try:
            for frame in pipeline.frames():
                if frame.index >= 5 and not running:  # >=: a live input's edge may drop any one frame
                    running = True
                    print("running", flush=True)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
    """))
    child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=os.environ)
    assert child.stdout.readline().strip() == "running"
    child.send_signal(signal.SIGINT)
    assert child.wait(timeout=60) == 130
    assert child.stdout.read().strip() == "interrupted"
    written = read_all(out)
    assert len(written) >= 6  # the file was finalised: it plays
