"""Sound and picture sync per output: how far each beep lands from its flash.

Two sources, each with a flash in the picture and a beep in the sound in the first 100 ms of every
second, in step: the test pattern's own (``--audio source``: camcast makes both on one clock), and a
file made by FFmpeg's lavfi (a flashing box and ``aevalsrc``, in step to the sample: a source whose
own sync camcast must keep). For each, camcast serves with RTSP and a continuous recording on, and
these clients take a few seconds each, at the start and again after ``--minutes``:

  - HLS: FFmpeg copies the LL-HLS stream (the segments as a player gets them);
  - RTSP: FFmpeg copies the RTSP stream over TCP (the client lines the tracks up by the sender reports);
  - recording: the newest finished file of the continuous recording;
  - WebRTC: aiortc as a WHEP client, decoding both tracks: each flash and beep placed by the RTCP
    sender reports (the capture time a player lines the tracks up by), and as they arrive (what a
    player with no jitter buffer would play).

The offset is the beep's onset minus the flash's (tests/avsync.py reads them); positive: the sound
comes late. The target is |offset| <= 40 ms and no drift.

    python bench/sync.py --seconds 6 --minutes 0
    python bench/sync.py --seconds 6 --minutes 60      # a file source after an hour
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from hls import free_port, start  # noqa: E402

from tests.avsync import CORNER, LIT, LOUD, offsets  # noqa: E402

FLASHING = (
    "color=black:s=640x360:r=30,drawbox=x=iw-60:y=ih-60:w=60:h=60:color=white:t=fill:"
    "enable='lt(mod(t\\,1)\\,0.1)'"
)
BEEPING = "aevalsrc='0.25*sin(2*PI*1000*t)*lt(mod(t\\,1)\\,0.1)':s=48000"


def make_file(path: Path, seconds: int) -> None:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", FLASHING, "-f", "lavfi", "-i", BEEPING,
         "-t", str(seconds), "-c:v", "libx264", "-g", "30", "-bf", "0", "-pix_fmt", "yuv420p", "-c:a", "aac",
         str(path)],
        check=True, timeout=600,
    )  # fmt: skip


def copy(url: str, out: Path, seconds: float, *options: str) -> list[float]:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", *options, "-i", url, "-t", str(seconds), "-c", "copy", str(out)],
        check=True, timeout=seconds + 60,
    )  # fmt: skip
    return offsets(out)


def newest_recording(state: Path) -> list[float]:
    finished = sorted(state.rglob("*.json"), key=lambda p: p.stat().st_mtime)
    return offsets(finished[-1].with_suffix(".mp4")) if finished else []


async def webrtc(url: str, seconds: float) -> tuple[list[float], list[float]]:
    """Offsets as aiortc (a WHEP client) gets both tracks: (by the sender reports, on arrival).

    By the sender reports: each decoded frame's RTP time, through the newest RTCP sender report of
    its track, is the NTP time it was captured at, which is how a player lines the tracks up. On
    arrival: when aiortc decoded it, which a player without a jitter buffer would play at."""
    import aiohttp
    import numpy as np
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription
    from aiortc.rtp import RtcpSrPacket

    from camcast.server.webrtc import ice

    reports: dict[int, tuple[float, int]] = {}  # receiver -> (NTP seconds, RTP time) of its newest report
    original = RTCRtpReceiver._handle_rtcp_packet

    async def noted(self: RTCRtpReceiver, packet: object) -> None:
        if isinstance(packet, RtcpSrPacket):
            info = packet.sender_info
            reports[id(self)] = (info.ntp_timestamp / 2**32, info.rtp_timestamp)
        await original(self, packet)  # type: ignore[arg-type]

    RTCRtpReceiver._handle_rtcp_packet = noted  # type: ignore[method-assign]
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    tracks: dict[str, object] = {}
    both = asyncio.Event()

    @pc.on("track")
    def got(track: object) -> None:
        tracks[track.kind] = track  # type: ignore[attr-defined]
        if len(tracks) == 2:
            both.set()

    with ice.gathering_on(("127.0.0.1",)):  # candidates on loopback, as the server's
        await pc.setLocalDescription(await pc.createOffer())
    receivers = {t.kind: t.receiver for t in pc.getTransceivers()}

    def captured(kind: str, pts: int, clock: int) -> float | None:
        receiver = receivers[kind]
        report = reports.get(id(receiver))
        origin = receiver._RTCRtpReceiver__timestamp_mapper._origin  # type: ignore[attr-defined]
        if report is None or origin is None:
            return None
        ntp, rtp = report
        ticks = (pts + origin - rtp + 2**31) % 2**32 - 2**31
        return ntp + ticks / clock

    onsets: dict[str, list[tuple[float | None, float]]] = {"video": [], "audio": []}

    async def watch() -> None:
        lit = True
        while True:
            frame = await tracks["video"].recv()  # type: ignore[attr-defined]
            now = time.monotonic()
            now_lit = frame.to_ndarray(format="gray")[-CORNER:, -CORNER:].mean() > LIT
            if now_lit and not lit:
                onsets["video"].append((captured("video", frame.pts, 90_000), now))
            lit = now_lit

    async def listen() -> None:
        loud = True
        while True:
            frame = await tracks["audio"].recv()  # type: ignore[attr-defined]
            now = time.monotonic()
            samples = np.abs(frame.to_ndarray().reshape(-1)[:: len(frame.layout.channels)]) / 32768
            hot = np.flatnonzero(samples > LOUD)
            if len(hot) and not loud:
                at = captured("audio", frame.pts + int(hot[0]), 48_000)
                onsets["audio"].append((at, now - (len(samples) - hot[0]) / frame.sample_rate))
            loud = bool(len(hot)) and hot[-1] > len(samples) - frame.sample_rate // 200

    async with aiohttp.ClientSession() as session:
        headers = {"Content-Type": "application/sdp"}
        async with session.post(url, data=pc.localDescription.sdp, headers=headers) as resp:
            answer = await resp.text()
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        await asyncio.wait_for(both.wait(), 10)
        tasks = [asyncio.create_task(watch()), asyncio.create_task(listen())]
        await asyncio.sleep(seconds)
        for task in tasks:
            task.cancel()
        await pc.close()
    RTCRtpReceiver._handle_rtcp_packet = original  # type: ignore[method-assign]

    def paired(which: int) -> list[float]:
        flashes = [o[which] for o in onsets["video"] if o[which] is not None]
        beeps = [o[which] for o in onsets["audio"] if o[which] is not None]
        found = [min(beeps, key=lambda b: abs(b - f)) - f for f in flashes if beeps]  # type: ignore[operator]
        return [o for o in found if abs(o) < 0.5]

    return paired(0), paired(1)


def measure(port: int, rtsp: int, state: Path, seconds: float) -> list[tuple[str, list[float]]]:
    """Each output's offsets, one client after another."""
    base = f"http://127.0.0.1:{port}"
    return [
        ("HLS", copy(f"{base}/hls/index.m3u8", state / "hls.mp4", seconds)),
        (
            "RTSP (TCP)",
            copy(f"rtsp://127.0.0.1:{rtsp}/camera", state / "rtsp.mkv", seconds, "-rtsp_transport", "tcp"),
        ),
        ("recording", newest_recording(state)),
        *zip(
            ("WebRTC (aiortc, by sender reports)", "WebRTC (aiortc, on arrival)"),
            asyncio.run(webrtc(f"{base}/whep", seconds)),
            strict=True,
        ),
    ]


def row(source: str, when: str, output: str, found: list[float]) -> str:
    if not found:
        return f"| {source} | {when} | {output} | 0 | – | – |"
    ms = [o * 1000 for o in found]
    return (f"| {source} | {when} | {output} | {len(ms)} | {statistics.median(ms):+.1f} | "
            f"{max(abs(m) for m in ms):.1f} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=6, help="what each client takes")
    parser.add_argument("--minutes", type=float, default=0, help="measure again after this long (the file)")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; python {platform.python_version()}")
    print("| source | when | output | pairs | median offset (ms) | largest |offset| (ms) |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        clip = work / "flashing.mp4"
        make_file(clip, max(60, int(args.minutes * 60 + 120)))
        sources = {"pattern's beep": ["--source", "pattern", "--size", "640x360", "--fps", "30"],
                   "file with sound": ["--source", str(clip)]}  # fmt: skip
        for name, source in sources.items():
            state = work / name.replace(" ", "-").replace("'", "")
            port, rtsp = free_port(), free_port()
            os.environ.update(XDG_STATE_HOME=str(state), XDG_CONFIG_HOME=str(work / "config"))  # for start()
            record = ["--record", "continuous", "--record-file-minutes", "0.1", "--record-min-free", "0"]
            serve = ["serve", *source, "--audio", "source", "--rtsp", f"127.0.0.1:{rtsp}", *record]
            proc = start(serve, port)
            try:
                time.sleep(8)  # a finished recording
                for output, found in measure(port, rtsp, state, args.seconds):
                    print(row(name, "start", output, found), flush=True)
                if args.minutes and name == "file with sound":
                    time.sleep(args.minutes * 60)
                    for output, found in measure(port, rtsp, state, args.seconds):
                        print(row(name, f"after {args.minutes:g} min", output, found), flush=True)
            finally:
                proc.terminate()
                proc.wait(20)


if __name__ == "__main__":
    main()
