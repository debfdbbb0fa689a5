"""Fan-out benchmark: N MJPEG viewers of one camcast server, on two kinds of frames.

``pattern`` is the 720p test pattern, encoded by camcast (about 35 KB a frame). ``camera`` is what a
real camera's MJPEG looks like: 30 JPEG frames of a detailed, noisy 1280x720 picture at quality 80
(about 110 KB each), written to a motion-JPEG file that camcast passes through untouched, looped at
30 fps. For each source it starts ``camcast serve`` as its own process, then for each N
connects N stream clients (spread over worker processes so the clients are not the bottleneck) for
``--seconds`` each, and prints one row per N: per-client fps (median, worst), server CPU (% of one core),
server RSS, capture-to-receipt latency p50/p99 from each part's X-Timestamp header, bytes/s delivered,
and the server's encodes per second. Also the cost of one 720p encode. Traffic stays on 127.0.0.1.

    python bench/fanout.py                      # N = 1 10 50 100 200 500, 10 s each
    python bench/fanout.py --clients 200 --seconds 5 --frames camera
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path


@dataclass(frozen=True)
class Stream:
    """Where a server's MJPEG stream is and how its parts are separated."""

    path: str = "/stream.mjpg"
    boundary: bytes = b"camcastframe"
    counts_encodes: bool = True  # camcast's /status.json reports encodes per second


MJPG_STREAMER = Stream("/?action=stream", b"boundarydonotcross", counts_encodes=False)


class StreamClient(asyncio.Protocol):
    """Reads an HTTP/1.0 MJPEG stream, counting parts and their latency, without copying bodies."""

    def __init__(
        self, stream: Stream, measure_from: float, measure_to: float, latencies: list[float] | None = None
    ) -> None:
        self.stream = stream
        self.first_boundary = b"--" + stream.boundary + b"\r\n"
        self.boundary_line = b"\r\n" + self.first_boundary
        self.buf = bytearray()
        self.need_body = 0
        self.in_headers = True
        self.stamp = 0.0
        self.frames = 0
        self.bytes = 0
        self.measure_from, self.measure_to = measure_from, measure_to
        self.latencies = [] if latencies is None else latencies
        self.seen_response = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(f"GET {self.stream.path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode())

    def data_received(self, data: bytes) -> None:
        now = time.time()
        measuring = self.measure_from <= now < self.measure_to
        if measuring:
            self.bytes += len(data)
        view = memoryview(data)
        while view:
            if self.need_body:
                take = min(self.need_body, len(view))
                self.need_body -= take
                view = view[take:]
                if not self.need_body and measuring:
                    self.frames += 1
                    self.latencies.append(now - self.stamp)
                continue
            self.buf += view
            view = memoryview(b"")
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end])
            rest = bytes(self.buf[end + 4 :])
            self.buf.clear()
            if not self.seen_response:
                self.seen_response = True
                # The response head is followed by the first boundary line.
                rest = rest.split(self.first_boundary, 1)[1] if self.first_boundary in rest else rest
                self.buf += rest
                if not rest:
                    return
                view = memoryview(bytes(self.buf))
                self.buf.clear()
                continue
            length = 0
            for line in head.split(b"\r\n"):
                if line.startswith(b"Content-Length:"):
                    length = int(line[15:])
                elif line.startswith(b"X-Timestamp:"):
                    self.stamp = float(line[12:])
            self.need_body = length + len(self.boundary_line)
            view = memoryview(rest)


def worker(stream: Stream, port: int, clients: int, start_at: float, seconds: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    async def main() -> None:
        loop = asyncio.get_running_loop()
        protocols = []
        for _ in range(clients):
            _, proto = await loop.create_connection(
                lambda: StreamClient(stream, start_at, start_at + seconds), "127.0.0.1", port
            )
            protocols.append(proto)
        await asyncio.sleep(max(0.0, start_at + seconds - time.time()) + 0.2)
        for p in protocols:
            if p.transport:
                p.transport.close()
        out.put(
            (
                [p.frames / seconds for p in protocols],
                [lat for p in protocols for lat in p.latencies[::5]],
                [statistics.median(p.latencies) for p in protocols if p.latencies],
                sum(p.bytes for p in protocols),
            )
        )

    asyncio.run(main())


def proc_stat(pid: int) -> tuple[float, int]:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return cpu, rss


def status(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status.json", timeout=5) as resp:
        result: dict[str, float] = json.load(resp)
        return result


def wait_started(port: int, server: subprocess.Popen[bytes], stream: Stream = Stream()) -> None:
    """Wait up to 20 s for the server on ``port`` to answer."""
    deadline = time.monotonic() + 20
    while True:
        try:
            if stream.counts_encodes:
                status(port)
            else:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("the server did not start") from None
            time.sleep(0.2)


def run_n(stream: Stream, port: int, pid: int, n: int, seconds: float, procs: int) -> dict[str, float]:
    warmup = 2.0
    start_at = time.time() + warmup
    out: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    per = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
    workers = [mp.Process(target=worker, args=(stream, port, k, start_at, seconds, out)) for k in per if k]
    for w in workers:
        w.start()
    time.sleep(max(0.0, start_at - time.time()))
    cpu0, _ = proc_stat(pid)
    t0 = time.monotonic()
    time.sleep(seconds / 2)
    encodes = status(port)["encodes_per_second"] if stream.counts_encodes else float("nan")
    time.sleep(max(0.0, seconds - (time.monotonic() - t0)))
    cpu1, rss = proc_stat(pid)
    elapsed = time.monotonic() - t0
    fps: list[float] = []
    lat: list[float] = []
    medians: list[float] = []
    total_bytes = 0
    for _ in workers:
        f, lats, meds, b = out.get(timeout=60)
        fps += f
        lat += lats
        medians += meds
        total_bytes += b
    for w in workers:
        w.join(10)
    lat.sort()
    return {
        "clients": n,
        "fps_median": statistics.median(fps),
        "fps_worst": min(fps),
        "cpu": 100 * (cpu1 - cpu0) / elapsed,
        "rss_mib": rss / 2**20,
        "p50_ms": 1000 * lat[len(lat) // 2] if lat else float("nan"),
        "p99_ms": 1000 * lat[int(len(lat) * 0.99)] if lat else float("nan"),
        # the median latency of the viewer worst served: high when one viewer is always sent last
        "worst_viewer_p50_ms": 1000 * max(medians) if medians else float("nan"),
        "mb_per_s": total_bytes / seconds / 1e6,
        "encodes": encodes,
    }


def encode_cost(size: tuple[int, int]) -> tuple[float, float, float, float, int]:
    """Median milliseconds to draw one pattern frame, to encode it whole, and to encode it with the
    stripe encoder (as the hub does); the stripes re-encoded per frame; the JPEG size in bytes."""
    from camcast.encode import jpeg
    from camcast.encode.stripes import StripeEncoder
    from camcast.sources.pattern import PatternSource

    pattern = PatternSource(*size, 30)
    stripes = StripeEncoder(80)
    draws, full, incremental = [], [], []
    data = b""
    frames = 300
    for i in range(frames):
        t0 = time.perf_counter()
        img = pattern.draw(i, 1000.0 + i / 30)
        t1 = time.perf_counter()
        data = jpeg.encode(img, 80)
        t2 = time.perf_counter()
        stripes.encode(img)
        t3 = time.perf_counter()
        draws.append(t1 - t0)
        full.append(t2 - t1)
        incremental.append(t3 - t2)
    ms = [1000 * statistics.median(x) for x in (draws, full, incremental)]
    return ms[0], ms[1], ms[2], stripes.stripes_encoded / frames, len(data)


def camera_like_jpegs(size: tuple[int, int] = (1280, 720), frames: int = 30) -> list[bytes]:
    """``frames`` camera-like pictures (a gradient, fine texture and sensor noise, changing every
    frame) encoded as JPEG at quality 80, 4:2:0."""
    import numpy as np
    import simplejpeg

    width, height = size
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:height, 0:width]
    jpegs = []
    for i in range(frames):
        base = np.stack(
            [(x * 255 // width + i * 8) % 256, (y * 255 // height) % 256, ((x + y + i * 20) // 5) % 256], -1
        ).astype(np.float32)
        texture = 20 * np.sin(x / 7.0 + i) * np.sin(y / 5.5)
        picture = base + texture[..., None] + rng.normal(0, 5.5, (height, width, 3))
        jpegs.append(
            simplejpeg.encode_jpeg(
                np.clip(picture, 0, 255).astype(np.uint8), quality=80, colorsubsampling="420"
            )
        )
    return jpegs


def write_mjpeg(path: Path, jpegs: list[bytes], size: tuple[int, int] = (1280, 720)) -> None:
    """Mux ``jpegs`` untouched into a 30 fps motion-JPEG Matroska file, as a camera's MJPEG."""
    import av

    with av.open(str(path), "w", format="matroska") as container:
        stream = container.add_stream("mjpeg", rate=Fraction(30))
        stream.width, stream.height, stream.pix_fmt = *size, "yuvj420p"
        for i, data in enumerate(jpegs):
            packet = av.Packet(data)
            packet.stream = stream
            packet.pts = packet.dts = i
            packet.time_base = Fraction(1, 30)
            packet.is_keyframe = True
            container.mux(packet)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_server(label: str, command: list[str], port: int, stream: Stream, args: argparse.Namespace) -> None:
    """Run ``command`` (a server listening on ``port``) and print the table for every N of ``--clients``."""
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_started(port, server, stream)
        time.sleep(2)
        cpu0, _ = proc_stat(server.pid)
        time.sleep(3)
        cpu1, rss = proc_stat(server.pid)
        encodes = status(port)["encodes_per_second"] if stream.counts_encodes else float("nan")
        print(f"{label}: idle (no viewer): CPU {100 * (cpu1 - cpu0) / 3:.1f}% of a core, "
              f"RSS {rss / 2**20:.0f} MiB, encodes/s {encodes}\n")  # fmt: skip
        print("| server, frames | clients | fps median | fps worst | server CPU % | RSS MiB ", end="")
        print("| latency p50 ms | p99 ms | worst viewer's p50 ms | MB/s | encodes/s |")
        print("|" + "---|" * 11)
        for n in args.clients:
            r = run_n(stream, port, server.pid, n, args.seconds, min(args.procs, n))
            print(
                f"| {label} | {n} | {r['fps_median']:.1f} | {r['fps_worst']:.1f} | {r['cpu']:.1f} | "
                f"{r['rss_mib']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                f"{r['worst_viewer_p50_ms']:.1f} | {r['mb_per_s']:.0f} | "
                f"{r['encodes']:.1f} |",
                flush=True,
            )
        print()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)


def camcast_command(source: list[str], port: int) -> list[str]:
    return [
        sys.executable, "-m", "camcast", "serve", *source, "--listen", f"127.0.0.1:{port}", "--quiet",
        # every bench client comes from 127.0.0.1, over the default per-address cap of 100
        "--max-connections-per-address", "2000", "--max-connections", "2000",
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 10, 50, 100, 200, 500])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--procs", type=int, default=2, help="client worker processes")
    parser.add_argument("--size", default="1280x720", help="of the pattern")
    parser.add_argument("--fps", default="30")
    parser.add_argument("--frames", nargs="+", choices=["pattern", "camera"], default=["pattern", "camera"])
    parser.add_argument(
        "--mjpg-streamer", metavar="BINARY", type=Path,
        help="also serve the camera-like frames with mjpg-streamer's input_file and output_http plugins "
        "(the .so files found under the binary's folder) for comparison",
    )  # fmt: skip
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.split("x"))

    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        if "pattern" in args.frames:
            draw_ms, enc_ms, stripe_ms, stripes, nbytes = encode_cost((w, h))
            print(f"pattern {w}x{h}: draw {draw_ms:.2f} ms; JPEG q80: full encode {enc_ms:.2f} ms, "
                  f"stripe encoder {stripe_ms:.2f} ms ({stripes:.1f} stripes/frame); {nbytes} bytes "
                  "per frame")  # fmt: skip
            port = free_port()
            source = ["--source", "pattern", "--size", args.size, "--fps", args.fps]
            bench_server("camcast, pattern", camcast_command(source, port), port, Stream(), args)
        if "camera" in args.frames:
            jpegs = camera_like_jpegs()
            sizes = [len(j) for j in jpegs]
            print(f"camera-like MJPEG 1280x720 q80, passed through: {len(sizes)} frames of "
                  f"{min(sizes) // 1000}-{max(sizes) // 1000} KB "
                  f"(mean {statistics.mean(sizes) / 1000:.0f} KB)")  # fmt: skip
            path = Path(tmp) / "camera.mkv"
            write_mjpeg(path, jpegs)
            port = free_port()
            bench_server(
                "camcast, camera", camcast_command(["--source", str(path)], port), port, Stream(), args
            )
            if args.mjpg_streamer:
                folder = Path(tmp) / "frames"
                folder.mkdir()
                for i, data in enumerate(jpegs):
                    (folder / f"{i:03}.jpg").write_bytes(data)
                plugins = {p.name: p for p in args.mjpg_streamer.resolve().parent.rglob("*.so")}
                port = free_port()
                command = [
                    str(args.mjpg_streamer),
                    "-i", f"{plugins['input_file.so']} -f {folder}/ -e -d {1 / float(args.fps):.4f}",
                    "-o", f"{plugins['output_http.so']} -l 127.0.0.1 -p {port}",
                ]  # fmt: skip
                bench_server("mjpg-streamer, camera", command, port, MJPG_STREAMER, args)


if __name__ == "__main__":
    main()


def wait_healthy(port: int, server: subprocess.Popen[bytes], seconds: float = 30) -> None:
    """Wait until camcast on ``port`` answers /healthz (exit if it does not, or dies)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("camcast did not start") from None
            time.sleep(0.05)


def stop(process: subprocess.Popen[bytes], seconds: float = 20) -> None:
    """SIGTERM, then SIGKILL after ``seconds``."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
