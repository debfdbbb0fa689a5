"""HLS: delay from capture to playable at a client, and the server's CPU with many HLS readers.

Delay: a client's view of when a frame became playable, from the playlist's EXT-X-PROGRAM-DATE-TIME
(the capture time of each segment's first frame) against the time the bytes arrived here:
  - LL-HLS from the server: blocking reloads for the next part, each part fetched when listed; the
    delay of a part is its arrival minus the capture of its first frame;
  - plain HLS from the server (1 s segments, no parts): the playlist polled every 100 ms, each new
    segment fetched; the delay is its arrival minus the capture of its first frame;
  - published to SeaweedFS (S3): the bucket's playlist polled every 100 ms; the delay is when a new
    segment is named by the playlist minus the capture of its first frame. Start SeaweedFS yourself
    and pass --s3 ENDPOINT (credentials in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, bucket made).
The capture of a segment's *last* frame is one segment later, so these are the worst frames' delays.

Load: N LL-HLS readers (blocking playlist reload, then the part) split over worker processes, for
--seconds; the server's CPU from /proc, and whether each reader kept up (parts received per second).
With --nginx, N plain readers through Debian's nginx (proxy_cache) in front of the server.

    python bench/hls.py --delay --seconds 20
    python bench/hls.py --clients 1 50 200 --seconds 10
    python bench/hls.py --nginx 1000 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing as mp
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp

SOURCE = ["--source", "pattern", "--size", "1280x720", "--fps", "30"]
_PDT = re.compile(r"#EXT-X-PROGRAM-DATE-TIME:(\S+)")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(args: list[str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "camcast", *args, "--listen", f"127.0.0.1:{port}", "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.2)
    raise SystemExit("camcast did not start")


def parse_playlist(text: str) -> list[tuple[float, list[tuple[str, float]], str | None]]:
    """(capture time of the first frame, [(part URI, duration)], segment URI or None) per segment."""
    out: list[tuple[float, list[tuple[str, float]], str | None]] = []
    for line in text.splitlines():
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            when = dt.datetime.fromisoformat(line.split(":", 1)[1].replace("Z", "+00:00")).timestamp()
            out.append((when, [], None))
        elif line.startswith("#EXT-X-PART:") and out:
            duration = float(re.search(r"DURATION=([\d.]+)", line)[1])  # type: ignore[index]
            uri = re.search(r'URI="([^"]+)"', line)[1]  # type: ignore[index]
            out[-1][1].append((uri, duration))
        elif line and not line.startswith("#") and out:
            out[-1] = (out[-1][0], out[-1][1], line)
    return out


# --- delay -------------------------------------------------------------------------------------------
async def ll_delays(base: str, seconds: float) -> list[float]:
    """LL-HLS as hls.js plays it: block for the next part, fetch it, note its delay."""
    delays: list[float] = []
    async with aiohttp.ClientSession() as session:
        await ll_reader(session, base, time.time() + seconds, delays)
    return delays


async def segment_delays(playlist: str, seconds: float, fetch: bool) -> list[float]:
    """Plain HLS: poll the playlist; for each new segment, its delay when fetched (or only named)."""
    delays: list[float] = []
    seen: set[str] = set()
    base = playlist.rsplit("/", 1)[0] + "/"
    async with aiohttp.ClientSession() as session:
        deadline = time.monotonic() + seconds
        first = True
        while time.monotonic() < deadline:
            async with session.get(playlist) as resp:
                text = await resp.text() if resp.status == 200 else ""
            for date, _, uri in parse_playlist(text):
                if uri is None or uri in seen:
                    continue
                seen.add(uri)
                if first:
                    continue  # segments already there when we started say nothing of the delay
                if fetch:
                    async with session.get(base + uri) as resp:
                        await resp.read()
                delays.append(time.time() - date)
            first = first and not seen
            await asyncio.sleep(0.1)
    return delays


def report(label: str, delays: list[float]) -> None:
    if len(delays) < 3:
        print(f"| {label} | {len(delays)} | - | - | - |")
        return
    q = statistics.quantiles(delays, n=100)
    print(f"| {label} | {len(delays)} | {statistics.median(delays):.2f} | {q[94]:.2f} | {max(delays):.2f} |")


def delay(args: argparse.Namespace) -> None:
    print("| path | samples | delay p50 s | p95 s | max s |")
    print("|---|---|---|---|---|")
    port = free_port()
    server = start(["serve", *SOURCE, "--keyframe-every", "1"], port)
    try:
        base = f"http://127.0.0.1:{port}/hls/"
        urllib.request.urlopen(base + "index.m3u8", timeout=20).read()  # starts the encoder
        time.sleep(3)
        report("LL-HLS from the server, parts of ~200 ms", asyncio.run(ll_delays(base, args.seconds)))
        plain = asyncio.run(segment_delays(base + "index.m3u8", args.seconds, fetch=True))
        report("plain HLS from the server, 1 s segments", plain)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)
    if args.s3:
        prefix = f"bench-{int(time.time())}/"
        url = f"s3://{args.bucket}/{prefix}?endpoint={args.s3}"
        publisher = subprocess.Popen(
            [sys.executable, "-m", "camcast", "publish", *SOURCE, "--to", url, "--hls", "--hls-segment", "1",
             "--every", "60", "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            playlist = f"{args.s3}/{args.bucket}/{prefix}hls/index.m3u8"
            time.sleep(4)
            delays = asyncio.run(segment_delays(playlist, args.seconds, fetch=False))
            report("published to SeaweedFS, 1 s segments: capture to playlist visible", delays)
        finally:
            publisher.send_signal(signal.SIGTERM)
            publisher.wait(15)


# --- load --------------------------------------------------------------------------------------------
async def ll_reader(
    session: aiohttp.ClientSession, base: str, until: float, delays: list[float] | None = None
) -> int:
    """Read LL-HLS parts as hls.js does (a blocking reload for the next part, then the part) until
    ``until``; return how many parts came, and note each part's delay in ``delays``."""
    parts = 0
    async with session.get(base + "index.m3u8") as resp:
        text = await resp.text()
    segments = parse_playlist(text)
    msn = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)[1]) + len(segments) - 1  # type: ignore[index]
    part = len(segments[-1][1])
    while time.time() < until:
        async with session.get(base + f"index.m3u8?_HLS_msn={msn}&_HLS_part={part}") as resp:
            text = await resp.text()
            if resp.status != 200:
                await asyncio.sleep(0.05)
                continue
        segments = parse_playlist(text)
        first = int(re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", text)[1])  # type: ignore[index]
        index = msn - first
        if index >= len(segments) or part >= len(segments[index][1]):
            msn, part = msn + 1, 0  # the segment closed before this part: go on to the next
            continue
        date, listed, _ = segments[index]
        async with session.get(base + listed[part][0]) as resp:
            await resp.read()
        if delays is not None:
            delays.append(time.time() - (date + sum(d for _, d in listed[:part])))
        parts += 1
        part += 1
    return parts


async def plain_reader(session: aiohttp.ClientSession, playlist: str, until: float) -> int:
    base = playlist.rsplit("/", 1)[0] + "/"
    got: set[str] = set()
    while time.time() < until:
        async with session.get(playlist) as resp:
            text = await resp.text()
        for _, _, uri in parse_playlist(text)[-3:]:
            if uri and uri not in got:
                async with session.get(base + uri) as resp:
                    await resp.read()
                got.add(uri)
        await asyncio.sleep(0.5)
    return len(got)


def worker(kind: str, url: str, n: int, start_at: float, seconds: float, out: mp.Queue) -> None:  # type: ignore[type-arg]
    async def run() -> list[int]:
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            await asyncio.sleep(max(0.0, start_at - time.time()))
            until = start_at + seconds
            read = ll_reader if kind == "ll" else plain_reader
            results = await asyncio.gather(
                *(read(session, url, until) for _ in range(n)), return_exceptions=True
            )
            return [r if isinstance(r, int) else -1 for r in results]

    out.put(asyncio.run(run()))


def load(kind: str, url: str, pid: int, n: int, seconds: float, procs: int) -> tuple[float, list[int]]:
    out: mp.Queue = mp.Queue()  # type: ignore[type-arg]
    start_at = time.time() + 2
    shares = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
    workers = [mp.Process(target=worker, args=(kind, url, k, start_at, seconds, out)) for k in shares if k]
    for w in workers:
        w.start()
    time.sleep(max(0.0, start_at - time.time()))
    cpu0 = cpu_seconds(pid)
    time.sleep(seconds)
    cpu = 100 * (cpu_seconds(pid) - cpu0) / seconds
    counts = [c for _ in workers for c in out.get(timeout=seconds + 60)]
    for w in workers:
        w.join()
    return cpu, counts


def load_table(args: argparse.Namespace) -> None:
    port = free_port()
    server = start(["serve", *SOURCE], port)
    try:
        base = f"http://127.0.0.1:{port}/hls/"
        urllib.request.urlopen(base + "index.m3u8", timeout=20).read()
        time.sleep(3)
        print(
            "| readers | path | server CPU % of a core | parts or segments per reader per s, median | worst |"
        )
        print("|---|---|---|---|---|")
        for n in args.clients:
            cpu, counts = load("ll", base, server.pid, n, args.seconds, min(args.procs, n))
            rates = sorted(c / args.seconds for c in counts)
            print(
                f"| {n} | LL-HLS direct | {cpu:.1f} | {statistics.median(rates):.2f} | {rates[0]:.2f} |",
                flush=True,
            )
        if args.nginx:
            with (
                tempfile.TemporaryDirectory() as tmp,
                nginx_edge(Path(tmp), f"http://127.0.0.1:{port}/") as edge,
            ):
                n = args.nginx
                cpu, counts = load("plain", edge + "/hls/index.m3u8", server.pid, n, args.seconds, args.procs)
                rates = sorted(c / args.seconds for c in counts)
                print(f"| {n} | plain HLS through nginx proxy_cache | {cpu:.1f} | "
                      f"{statistics.median(rates):.2f} | {rates[0]:.2f} |")  # fmt: skip
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(10)


class nginx_edge:
    """Debian's nginx as a caching edge in front of ``upstream`` (the tests' configuration)."""

    def __init__(self, root: Path, upstream: str) -> None:
        self.root, self.upstream = root, upstream
        self.port = free_port()

    def __enter__(self) -> str:
        (self.root / "cache").mkdir()
        user = "user root;" if os.getuid() == 0 else ""
        conf = self.root / "nginx.conf"
        conf.write_text(f"""
daemon off; {user} worker_processes 1; pid {self.root}/nginx.pid; error_log {self.root}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {self.root}/body; proxy_temp_path {self.root}/proxy;
    fastcgi_temp_path {self.root}/fastcgi; uwsgi_temp_path {self.root}/uwsgi; scgi_temp_path {self.root}/scgi;
    proxy_cache_path {self.root}/cache keys_zone=edge:10m max_size=256m inactive=60s use_temp_path=off;
    server {{
        listen 127.0.0.1:{self.port};
        location / {{
            proxy_pass {self.upstream}; proxy_http_version 1.1; proxy_cache edge;
            proxy_cache_lock on; proxy_cache_lock_timeout 10s; proxy_cache_use_stale updating;
        }}
    }}
}}
""")
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.proc = subprocess.Popen(
            [nginx, "-p", str(self.root), "-c", str(conf), "-e", str(self.root / "error.log")]
        )
        time.sleep(0.5)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--delay", action="store_true", help="measure capture-to-playable delays")
    parser.add_argument("--s3", metavar="ENDPOINT", help="SeaweedFS's S3 endpoint, for the published delay")
    parser.add_argument("--bucket", default="bench")
    parser.add_argument("--clients", type=int, nargs="*", default=[], help="LL-HLS readers, direct")
    parser.add_argument("--nginx", type=int, default=0, help="plain HLS readers through nginx")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--procs", type=int, default=4, help="client worker processes")
    args = parser.parse_args()
    if args.delay:
        delay(args)
    if args.clients or args.nginx:
        load_table(args)


if __name__ == "__main__":
    main()
