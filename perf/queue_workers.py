"""Videos per hour through the Redis work queue with 1, 2 and 3 workers on this machine, and how long a dead worker's
input waits before another worker has finished it.

    python3 perf/queue_workers.py [--framepipe build/framepipe] [--videos 12] [--size 1280x720] [--seconds 10]

Makes the videos (ffmpeg testsrc2 with noise, H.264), starts its own redis-server on a free loopback port, and for
each worker count submits every video and runs that many `framepipe worker pipelines/thumbnails.yaml
--exit-when-empty` at once; the figure is the wall time from the first worker's start to the last worker's exit.
Then, with 2 workers and --claim-after 2s, it SIGKILLs one in the middle of a video and measures the time from the
kill to the result record of that video (written by the other worker).
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis(port, *args):
    result = subprocess.run(["redis-cli", "-p", str(port), "--json", *args], capture_output=True, text=True)
    try:
        return json.loads(result.stdout) if result.stdout.strip() else None
    except json.JSONDecodeError:
        return None  # not up yet, or an error reply


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--framepipe", default=os.path.join(ROOT, "build", "framepipe"))
    parser.add_argument("--videos", type=int, default=12)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="framepipe-queue-")
    pipeline = os.path.join(ROOT, "pipelines", "thumbnails.yaml")
    videos = []
    for i in range(args.videos):
        path = os.path.join(work, f"v{i:02}.mp4")
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", f"testsrc2=size={args.size}:rate=30",
                        "-vf", "noise=alls=12:allf=t", "-t", str(args.seconds), "-c:v", "libx264", "-preset",
                        "veryfast", "-pix_fmt", "yuv420p", path], check=True)
        videos.append(path)
    port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no"], stdout=subprocess.DEVNULL)
    while redis(port, "PING") != "PONG":
        time.sleep(0.05)
    try:
        print(f"{args.videos} videos of {args.seconds} s {args.size}, pipelines/thumbnails.yaml, "
              f"{os.cpu_count()} processors")
        print(f"{'workers':>7} {'wall s':>8} {'videos/hour':>12} {'vs 1 worker':>12}")
        base = None
        for workers in (1, 2, 3):
            stream = f"jobs{workers}"
            subprocess.run([args.framepipe, "submit", "--queue", f"redis://127.0.0.1:{port}/{stream}", *videos],
                           check=True, stdout=subprocess.DEVNULL)
            out = os.path.join(work, f"out{workers}")
            os.makedirs(out)
            start = time.perf_counter()
            procs = [subprocess.Popen([args.framepipe, "worker", pipeline, "--queue",
                                       f"redis://127.0.0.1:{port}/{stream}", "--consumer", f"w{k}",
                                       "--exit-when-empty"], cwd=out, stderr=subprocess.DEVNULL)
                     for k in range(workers)]
            for p in procs:
                p.wait()
            wall = time.perf_counter() - start
            done = len(redis(port, "XRANGE", f"{stream}:results", "-", "+"))
            assert done == args.videos, f"{done} of {args.videos} done"
            rate = args.videos / wall * 3600
            base = base or rate
            print(f"{workers:>7} {wall:>8.2f} {rate:>12.0f} {rate / base:>11.2f}x")

        # A worker killed mid-video: how long until its input is finished by the other.
        stream = "jobs_kill"
        subprocess.run([args.framepipe, "submit", "--queue", f"redis://127.0.0.1:{port}/{stream}", *videos[:4]],
                       check=True, stdout=subprocess.DEVNULL)
        out = os.path.join(work, "out_kill")
        os.makedirs(out)
        procs = {name: subprocess.Popen([args.framepipe, "worker", pipeline, "--queue",
                                         f"redis://127.0.0.1:{port}/{stream}", "--consumer", name, "--claim-after",
                                         "2s", "--exit-when-empty"], cwd=out, stderr=subprocess.DEVNULL)
                 for name in ("a", "b")}
        entry = None
        while entry is None:
            pending = redis(port, "XPENDING", stream, "framepipe", "-", "+", "10", "a") or []
            entry = pending[0][0] if pending else None
            time.sleep(0.05)
        time.sleep(0.5)  # well into the video
        procs["a"].send_signal(signal.SIGKILL)
        killed = time.time()
        procs["b"].wait()
        for record_id, fields in redis(port, "XRANGE", f"{stream}:results", "-", "+"):
            record = dict(zip(fields[::2], fields[1::2]))
            if record["entry"] == entry:
                finished = int(record_id.split("-")[0]) / 1000
                print(f"worker killed mid-video: its input finished by worker {record['worker']} "
                      f"{finished - killed:.2f} s after the kill (claim after 2 s idle, then the whole video again: "
                      f"{record['seconds']} s)")
    finally:
        server.terminate()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
