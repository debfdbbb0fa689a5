"""What sound costs a camera: the encoders alone, and the whole server with and without it.

1. The encoders (camcast.audio.encode.AudioEncoder): CPU time to encode a minute of 48 kHz mono (the
   pattern's beep and silence, and white noise, the hardest to code), per second of sound.
2. The server: `camcast serve` on the test pattern (640x360 at 15 fps) with an RTSP client (FFmpeg
   copying, so the Opus encoder runs) and an LL-HLS client (FFmpeg copying, so AAC runs), for
   --seconds, with audio off and then with the pattern's beep (`--audio source`); the server's CPU
   from /proc, in the same run, one after the other. The difference is what sound adds per camera
   (the target: at most 3% of a core).
3. With ``--source file``, the server on a file (640x360 at 15 fps, H.264, and AAC-LC at 44.1 kHz
   stereo) instead of the pattern: its own AAC passed through to HLS (and decoded for Opus); run it
   with ``PYTHONPATH=OTHER/src`` to measure another checkout of camcast the same way.

    python bench/audio.py --seconds 30
    python bench/audio.py --seconds 30 --source file
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from hls import cpu_seconds, free_port, start  # noqa: E402

from camcast.audio.beep import beep_samples  # noqa: E402
from camcast.audio.encode import AudioEncoder  # noqa: E402
from camcast.frames import Chunk  # noqa: E402

PATTERN = ["--source", "pattern", "--size", "640x360", "--fps", "15"]


def encoders(seconds: int = 60) -> None:
    print("| encoder | signal | CPU per second of sound | share of a core |")
    print("|---|---|---|---|")
    rng = np.random.default_rng(1)
    signals = {
        "beep": lambda t: beep_samples(t, 960),
        "noise": lambda t: (rng.standard_normal(960) * 4000).astype(np.int16),
    }
    for codec in ("opus", "aac"):
        for name, make in signals.items():
            encoder = AudioEncoder(codec)
            chunks = [Chunk(make(1000 + i * 0.02), 1000 + i * 0.02) for i in range(seconds * 50)]
            began = time.process_time()
            for chunk in chunks:
                encoder.encode(chunk)
            spent = (time.process_time() - began) / seconds
            print(f"| {codec} | {name} | {spent * 1000:.2f} ms | {spent * 100:.2f}% |", flush=True)


def server(seconds: float, source: list[str], audio: list[str]) -> float:
    """The server's share of a core over ``seconds`` with an RTSP and an HLS client."""
    port, rtsp = free_port(), free_port()
    proc = start(["serve", *source, *audio, "--rtsp", f"127.0.0.1:{rtsp}"], port)
    clients = [
        subprocess.Popen(["ffmpeg", "-v", "quiet", *options, "-i", url, "-c", "copy", "-f", "null", "-"])
        for options, url in (
            (["-rtsp_transport", "tcp"], f"rtsp://127.0.0.1:{rtsp}/camera"),
            ([], f"http://127.0.0.1:{port}/hls/index.m3u8"),
        )
    ]
    try:
        time.sleep(5)  # both clients playing
        before, began = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(seconds)
        return (cpu_seconds(proc.pid) - before) / (time.monotonic() - began)
    finally:
        for client in clients:
            client.terminate()
            client.wait(10)
        proc.terminate()
        proc.wait(20)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rounds", type=int, default=2, help="off/on pairs, alternated")
    parser.add_argument("--source", choices=("pattern", "file"), default="pattern")
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; python {platform.python_version()}\n")
    with tempfile.TemporaryDirectory() as folder:
        if args.source == "pattern":
            encoders()
            source, sound = PATTERN, "beep"
        else:
            source, sound = ["--source", make_file(Path(folder) / "sound.mp4")], "its own AAC"
        print(f"\n| round | audio off | audio on ({sound}) | added |")
        print("|---|---|---|---|")
        for n in range(args.rounds):
            off = server(args.seconds, source, [])
            on = server(args.seconds, source, ["--audio", "source"])
            print(f"| {n + 1} | {off * 100:.1f}% | {on * 100:.1f}% | {(on - off) * 100:+.1f}% |", flush=True)


def make_file(path: Path) -> str:
    """A minute of 640x360 at 15 fps (H.264) with AAC-LC at 44.1 kHz stereo: a camera's recording."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=s=640x360:r=15", "-f", "lavfi", "-i",
         "sine=f=440:r=44100", "-t", "60", "-c:v", "libx264", "-g", "30", "-bf", "0", "-c:a", "aac",
         "-ac", "2", str(path)],
        check=True, timeout=300,
    )  # fmt: skip
    return str(path)


if __name__ == "__main__":
    main()
