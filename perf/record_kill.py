#!/usr/bin/env python3
"""SIGKILL a live recording at random moments and count what survives of the open segment.

    perf/record_kill.py FRAMEPIPE [--kills 20] [--seed 1] [--containers mkv,ts,mp4]

Each kill: a live synthetic camera (30 fps, 320x240) recorded in 5 s segments, followed by write_images (one BMP per
frame the recording passed on, i.e. had written); once the first segment has closed (its file renamed from .part), the
run is killed with SIGKILL after a random delay d in (0.1 s, 4.9 s). Frames written to the open segment: the highest
image number + 1 minus the closed segment's frames (a lower bound: a frame or two may be between the two stages).
Frames that survive: what ffprobe decodes from the leftover .part file. Prints, per container, the median and the
worst of both and of the loss.
"""
import argparse, os, random, signal, statistics, subprocess, sys, tempfile, time

def frames_in(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                        "stream=nb_read_frames", "-of", "csv=p=0", path], capture_output=True, text=True)
    # MPEG-TS lists the stream twice (under its program and on its own): the first line is enough.
    try:
        return int(r.stdout.strip().splitlines()[0].split(",")[0])
    except (ValueError, IndexError):
        return 0

def one_kill(binary, container, delay):
    with tempfile.TemporaryDirectory(prefix="record-kill-") as tmp:
        rec = os.path.join(tmp, "rec")
        seen = os.path.join(tmp, "seen")
        cfg = os.path.join(tmp, "rec.yaml")
        with open(cfg, "w") as f:
            f.write("source: { live: true, fps: 30, frames: 0, width: 320, height: 240 }\n"
                    f"stages:\n  - {{ type: record, dir: '{rec}', segment: 5s, container: {container} }}\n"
                    f"  - {{ type: write_images, dir: '{seen}', file: '{{frame}}.bmp' }}\n")
        p = subprocess.Popen([binary, "run", "-q", cfg, "synthetic"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        closed = []
        while not closed and time.monotonic() < deadline:
            time.sleep(0.005)
            if os.path.isdir(rec):
                closed = [n for n in os.listdir(rec) if ".part." not in n]
        t0 = time.monotonic()
        time.sleep(max(0.0, delay - (time.monotonic() - t0)))
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        parts = [n for n in os.listdir(rec) if ".part." in n]
        survived = frames_in(os.path.join(rec, parts[0])) if parts else 0
        size = os.path.getsize(os.path.join(rec, parts[0])) if parts else 0
        last = max((int(n.split(".")[0]) for n in os.listdir(seen) if n.split(".")[0].isdigit()), default=-1)
        closed_frames = frames_in(os.path.join(rec, closed[0])) if closed else 0
        return last + 1 - closed_frames, survived, size

def main():
    a = argparse.ArgumentParser()
    a.add_argument("binary")
    a.add_argument("--kills", type=int, default=20)
    a.add_argument("--seed", type=int, default=1)
    a.add_argument("--containers", default="mkv,ts,mp4")
    args = a.parse_args()
    rng = random.Random(args.seed)
    for container in args.containers.split(","):
        rows = [one_kill(args.binary, container, rng.uniform(0.1, 4.9)) for _ in range(args.kills)]
        written = [w for w, _, _ in rows]
        survived = [s for _, s, _ in rows]
        lost = [w - s for w, s, _ in rows]
        print(f"{container}: open segment at kill: written median {statistics.median(written):.0f}, survived median "
              f"{statistics.median(survived):.0f} (worst {min(survived)}); lost median {statistics.median(lost):.0f}, "
              f"worst {max(lost)} frames; 0-byte leftovers {sum(1 for _, _, z in rows if z == 0)}/{len(rows)}")
        print("  (written, survived, bytes): " + " ".join(f"({w},{s},{z})" for w, s, z in rows))
        sys.stdout.flush()

main()
