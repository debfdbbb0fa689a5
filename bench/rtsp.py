"""camcast's RTSP server against GStreamer's gst-rtsp-server, the C reference, on the same stream.

Both pass the packets of one H.264 file through (1280x720, 30 fps, 2 Mbit/s, a keyframe a second, no
B-frames): camcast with ``--source FILE --rtsp``, gst-rtsp-server (Debian's, driven from Debian's
python3 through gi) with ``filesrc ! qtdemux ! h264parse ! rtph264pay`` as shared media. For 1, 10 and
50 clients over TCP (interleaved), all reading in another process: each server's CPU (% of a core),
the worst and median client's frames a second (an RTP packet with the marker bit ends a frame), and
the ratio of the CPUs. Then camcast's delay from capture to a decoded picture, read from the pattern's
timecode by a PyAV client. With 0 clients, camcast still reads its source (a webcam captures whether or not
anyone watches), while gst-rtsp-server starts its pipeline only for a client: the difference between a
row and the 0 row is what serving the clients costs.

    python bench/rtsp.py                      # 0, 1, 10, 50 clients, 15 s each
    python bench/rtsp.py --clients 1 10 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from fanout import free_port, proc_stat, stop  # noqa: E402

from tests.media import make_video  # noqa: E402

SIZE = (1280, 720)
FPS = 30
GST_SERVER = """
import sys
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer
Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(sys.argv[2])
factory = GstRtspServer.RTSPMediaFactory()
pipeline = "filesrc location={} ! qtdemux ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96"
factory.set_launch("( " + pipeline.format(sys.argv[1]) + " )")
factory.set_shared(True)
server.get_mount_points().add_factory("/camera", factory)
server.attach(None)
GLib.MainLoop().run()
"""


async def client(port: int, until: float, counts: list[int], index: int) -> None:
    """A minimal RTSP client over TCP: DESCRIBE, SETUP interleaved, PLAY, then count frames."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    url = f"rtsp://127.0.0.1:{port}/camera"

    async def ask(request: str) -> tuple[dict[str, str], str]:
        writer.write(request.encode())
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        headers = {}
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = b""
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        return headers, body.decode()

    described, sdp = await ask(f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n")
    media = sdp.split("m=video", 1)[-1]
    control = next((line[10:].strip() for line in media.splitlines() if line.startswith("a=control:")), "")
    base = described.get("content-base", url + "/")
    track = control if control.startswith("rtsp://") else base.rstrip("/") + "/" + control
    transport = "Transport: RTP/AVP/TCP;unicast;interleaved=0-1"
    setup, _ = await ask(f"SETUP {track} RTSP/1.0\r\nCSeq: 2\r\n{transport}\r\n\r\n")
    session = setup.get("session", "").split(";")[0]
    writer.write(
        f"PLAY {url} RTSP/1.0\r\nCSeq: 3\r\nSession: {session}\r\nRange: npt=0.000-\r\n\r\n".encode()
    )
    started = False
    while time.time() < until:
        try:
            first = await asyncio.wait_for(reader.readexactly(1), max(0.1, until - time.time()))
        except TimeoutError:
            break
        if first != b"$":  # a response (PLAY's): skip its head
            await reader.readuntil(b"\r\n\r\n")
            continue
        channel_size = await reader.readexactly(3)
        size = int.from_bytes(channel_size[1:3], "big")
        packet = await reader.readexactly(size)
        if channel_size[0] == 0 and len(packet) > 1 and packet[1] & 0x80:
            if time.time() >= until - BENCH_SECONDS:
                started = True
            if started:
                counts[index] += 1
    writer.close()


BENCH_SECONDS = 15.0


def readers(port: int, clients: int, until: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    async def main() -> None:
        counts = [0] * clients
        await asyncio.gather(
            *(client(port, until, counts, i) for i in range(clients)), return_exceptions=True
        )
        out.put(counts)

    asyncio.run(main())


def wait_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit("the server did not start")
        time.sleep(0.1)


def measure(
    server: subprocess.Popen[bytes], port: int, clients: int, seconds: float
) -> tuple[float, list[float]]:
    global BENCH_SECONDS
    BENCH_SECONDS = seconds
    out: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    warmup = 3.0
    until = time.time() + warmup + seconds
    reader = mp.Process(target=readers, args=(port, clients, until, out))
    reader.start()
    time.sleep(warmup)
    cpu0, _ = proc_stat(server.pid)
    began = time.monotonic()
    time.sleep(seconds)
    cpu1, _ = proc_stat(server.pid)
    elapsed = time.monotonic() - began
    counts = out.get(timeout=60)
    reader.join(10)
    return (cpu1 - cpu0) / elapsed * 100, [c / seconds for c in counts]


def delays(seconds: float) -> list[float]:
    """Milliseconds from capture (the pattern's timecode) to a decoded picture in a PyAV client over
    TCP, with FFmpeg's buffering off, as a low-latency NVR reads it."""
    import av

    from camcast import timecode

    port = free_port()
    command = [sys.executable, "-m", "camcast", "serve", "--source", "pattern", "--size", "1280x720", "--fps",
               str(FPS), "--pattern-timecode", "--listen", f"127.0.0.1:{free_port()}", "--rtsp",
               f"127.0.0.1:{port}", "--quiet"]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    found = []
    try:
        wait_port(port, server)
        options = {"rtsp_transport": "tcp", "fflags": "nobuffer", "flags": "low_delay", "max_delay": "0"}
        with av.open(f"rtsp://127.0.0.1:{port}/camera", options=options, timeout=10) as container:
            stream = container.streams.video[0]
            end = time.monotonic() + seconds + 3
            for frame in container.decode(stream):
                now = time.time()
                captured = timecode.read(frame.to_ndarray(format="gray"), now)
                if captured is not None and time.monotonic() > end - seconds:
                    found.append((now - captured) * 1000)
                if time.monotonic() > end:
                    break
    finally:
        stop(server)
    return sorted(found)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, nargs="+", default=[0, 1, 10, 50])
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="camcast-bench-rtsp-"))
    length = int(len(args.clients) * (args.seconds + 8) + 30)  # gst-rtsp-server plays the file once
    video = make_video(folder / "camera.mp4", codec="h264", frames=length * FPS, fps=FPS, size=SIZE,
                       options={"g": str(FPS), "bf": "0", "preset": "ultrafast", "b": "2M"})  # fmt: skip
    print(
        f"# {platform.node()} · {os.cpu_count()} cores · Python {platform.python_version()} · "
        f"{SIZE[0]}x{SIZE[1]} H.264 at {FPS} fps passed through, TCP clients, {args.seconds:g} s each"
    )
    print("\n| clients | gst-rtsp-server CPU | camcast CPU | camcast/gst | gst fps worst/median | "
          "camcast fps worst/median |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    rows = {}
    for name in ("gst", "camcast"):
        port = free_port()
        if name == "gst":
            command = ["/usr/bin/python3", "-c", GST_SERVER, str(video), str(port)]
        else:
            env_state = folder / "state"
            command = [sys.executable, "-m", "camcast", "serve", "--source", str(video), "--listen",
                       f"127.0.0.1:{free_port()}", "--rtsp", f"127.0.0.1:{port}", "--quiet"]  # fmt: skip
            os.environ["XDG_STATE_HOME"] = str(env_state)
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(port, server)
            for n in args.clients:
                rows.setdefault(n, {})[name] = measure(server, port, n, args.seconds)
        finally:
            stop(server)
    for n, row in rows.items():
        gst_cpu, gst_fps = row["gst"]
        cc_cpu, cc_fps = row["camcast"]
        if not n:  # camcast captures with nobody watching (a webcam); gst-rtsp-server starts on demand
            print(f"| 0 | {gst_cpu:.1f} | {cc_cpu:.1f} | | | |")
            continue
        print(f"| {n} | {gst_cpu:.1f} | {cc_cpu:.1f} | {cc_cpu / max(gst_cpu, 0.01):.2f} | "
              f"{min(gst_fps):.1f}/{statistics.median(gst_fps):.1f} | "
              f"{min(cc_fps):.1f}/{statistics.median(cc_fps):.1f} |")  # fmt: skip
    found = delays(args.seconds)
    if found:
        p50, p95 = found[len(found) // 2], found[int(len(found) * 0.95)]
        print(
            f"\ncapture to a decoded picture (camcast's pattern, {FPS} fps, 1280x720, PyAV over TCP): "
            f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {found[-1]:.0f} ms over {len(found)} frames"
        )


if __name__ == "__main__":
    main()
