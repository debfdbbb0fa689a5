"""Delay from capture to display in Chromium for MJPEG, LL-HLS and WebRTC; server CPU with WebRTC peers.

Delay: `camcast serve --pattern-timecode` draws each frame's capture time on the pattern as blocks
(camcast/timecode.py). In headless Chromium (Debian's, through Playwright) a page shows one transport,
and on every animation frame the picture on screen is read back through a canvas (the server's
/static/timecode.js); when the time read changes, a new frame is on screen, and its delay is the
moment it was seen minus its capture time. One transport at a time, each for --seconds:
  - MJPEG: /stream.mjpg in an <img>;
  - LL-HLS: /hls/index.m3u8 in a <video> through hls.js (lowLatencyMode, as /view/stream plays it);
  - WebRTC: /view/live (WHEP).

Load: N WebRTC peers in one Chromium page (each its own WHEP session), for --seconds once all decode;
the server's CPU from /proc, encodes per second from /status.json, and the frames each peer decoded.

    python bench/webrtc.py --delay --seconds 20
    python bench/webrtc.py --peers 1 10 20 --seconds 10
    python bench/webrtc.py --delay --seconds 10 --serve "--video-crf off"    # the rate until issue 36
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import statistics
import time
import urllib.request
from typing import Any

from hls import cpu_seconds, free_port, start  # bench/hls.py: the same server start and CPU reading
from playwright.async_api import Browser, Page, async_playwright

SOURCE = ["--source", "pattern", "--size", "1280x720", "--fps", "30", "--pattern-timecode"]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Nothing outside loopback is reachable here: keep Chromium from trying.
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]  # fmt: skip

#: Runs in the page: every animation frame, read the timecode of ELEMENT; keep (seen - captured) in ms
#: for each new frame.
WATCH = """(id) => {
  const element = document.getElementById(id);
  window.delays = [];
  let last = null;
  const tick = () => {
    const captured = camcastTimecode.read(element);
    const now = Date.now();
    if (captured !== null && captured !== last) { window.delays.push(now - captured); last = captured; }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}"""
MJPEG_PAGE = """(url) => {
  const img = document.createElement('img'); img.id = 'bench'; img.src = url; document.body.appendChild(img);
}"""
HLS_PAGE = """([url, hlsjs]) => new Promise((resolve, reject) => {
  const video = document.createElement('video');
  video.id = 'bench'; video.muted = true; video.autoplay = true;
  document.body.appendChild(video);
  const script = document.createElement('script'); script.src = hlsjs;
  script.onload = () => {
    const hls = new Hls({lowLatencyMode: true, enableWorker: false, backBufferLength: 10,
                         liveSyncOnStallIncrease: 0.2, maxLiveSyncPlaybackRate: 1.25});  // as viewer.js
    hls.loadSource(url); hls.attachMedia(video); video.play().catch(() => {}); resolve();
  };
  script.onerror = reject;
  document.head.appendChild(script);
})"""
PEERS = """async ([url, n]) => {
  window.peers = []; window.sessions = [];
  for (let i = 0; i < n; i++) {
    const pc = new RTCPeerConnection();
    pc.addTransceiver('video', {direction: 'recvonly'});
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise(r => {
      if (pc.iceGatheringState === 'complete') r();
      pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && r();
      setTimeout(r, 1000);
    });
    const resp = await fetch(url, {method: 'POST', headers: {'Content-Type': 'application/sdp'},
                                   body: pc.localDescription.sdp});
    if (resp.status !== 201) throw new Error(await resp.text());
    const session = new URL(resp.headers.get('Location'), location.href).href;
    await pc.setRemoteDescription({type: 'answer', sdp: await resp.text()});
    window.peers.push(pc);
    window.sessions.push(session);
  }
}"""
#: Ends every peer's WHEP session, as a page leaving does.
HANG_UP = """async () => {
  await Promise.all(window.sessions.map(url => fetch(url, {method: 'DELETE'})));
  window.peers.forEach(pc => pc.close());
}"""
DECODED = """async () => Promise.all(window.peers.map(async pc => {
  let decoded = 0;
  (await pc.getStats()).forEach(s => { if (s.type === 'inbound-rtp') decoded = s.framesDecoded || 0; });
  return decoded;
}))"""


def status(base: str) -> dict[str, Any]:
    import json

    with urllib.request.urlopen(base + "/status.json", timeout=5) as resp:
        return dict(json.load(resp))


async def measure(page: Page, base: str, element: str, seconds: float) -> list[float]:
    await page.add_script_tag(url=base + "/static/timecode.js")
    await page.wait_for_function(
        f"() => camcastTimecode.read(document.getElementById('{element}')) !== null", timeout=20000
    )
    await asyncio.sleep(2)  # past the start (hls.js seeks to the live edge)
    await page.evaluate(WATCH, element)
    await asyncio.sleep(seconds)
    return [float(d) for d in await page.evaluate("() => window.delays")]


def row(label: str, delays: list[float], seconds: float) -> str:
    if not delays:
        return f"| {label} | 0 | – | – | – | – |"
    q = statistics.quantiles(delays, n=100, method="inclusive")
    return (
        f"| {label} | {len(delays) / seconds:.1f} | {statistics.median(delays):.0f} | {q[89]:.0f} | "
        f"{q[98]:.0f} | {max(delays):.0f} |"
    )


async def delay(browser: Browser, base: str, seconds: float) -> None:
    print("| transport | frames seen/s | p50 ms | p90 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|---|")
    for label in ("MJPEG", "LL-HLS (hls.js)", "WebRTC (WHEP)"):
        page = await browser.new_page()
        if label == "MJPEG":
            await page.goto(base + "/healthz")
            await page.evaluate(MJPEG_PAGE, base + "/stream.mjpg")
            element = "bench"
        elif label.startswith("LL-HLS"):
            await page.goto(base + "/healthz")
            await page.evaluate(HLS_PAGE, [base + "/hls/index.m3u8", base + "/static/hls.light.min.js"])
            element = "bench"
        else:
            await page.goto(base + "/view/live")
            element = "camcast-video"
        print(row(label, await measure(page, base, element, seconds), seconds), flush=True)
        await page.close()


async def peers(browser: Browser, base: str, pid: int, counts: list[int], seconds: float) -> None:
    print("| peers | server CPU % of a core | encodes/s | fps decoded per peer (min / mean) |")
    print("|---|---|---|---|")
    for n in counts:
        page = await browser.new_page()
        await page.goto(base + "/healthz")
        await page.evaluate(PEERS, [base + "/whep", n])
        await page.wait_for_function(
            f"async () => ({DECODED})().then(d => d.every(n => n > 30))", timeout=30000
        )
        await asyncio.sleep(2)
        before, cpu0, t0 = await page.evaluate(DECODED), cpu_seconds(pid), time.monotonic()
        await asyncio.sleep(seconds)
        after, cpu1, t1 = await page.evaluate(DECODED), cpu_seconds(pid), time.monotonic()
        encodes = status(base)["encodes_per_second"]
        fps = [(b - a) / (t1 - t0) for a, b in zip(before, after, strict=True)]
        print(
            f"| {n} | {100 * (cpu1 - cpu0) / (t1 - t0):.0f} | {encodes:.1f} | "
            f"{min(fps):.1f} / {statistics.mean(fps):.1f} |",
            flush=True,
        )
        await page.evaluate(HANG_UP)
        await page.close()
        await asyncio.sleep(2)
        assert status(base)["webrtc"] == 0, "sessions left over"  # each row starts from none


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--delay", action="store_true", help="capture-to-display delay per transport")
    parser.add_argument(
        "--peers", type=int, nargs="*", default=[], help="WebRTC peer counts for the CPU table"
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--serve", default="", help="more `camcast serve` flags, e.g. '--video-crf off'")
    args = parser.parse_args()
    port = free_port()
    flags = [*SOURCE, *shlex.split(args.serve)]
    server = start(["serve", *flags], port)
    base = f"http://127.0.0.1:{port}"
    print(f"camcast serve {' '.join(flags)}; {os.cpu_count()} cores; Chromium {CHROMIUM}\n")
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            if args.delay:
                await delay(browser, base, args.seconds)
                print()
            if args.peers:
                await peers(browser, base, server.pid, args.peers, args.seconds)
            await browser.close()
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    asyncio.run(main())
