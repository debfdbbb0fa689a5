"""Publishing benchmark: capture-to-visible latency and the shortest sustainable interval per protocol.

For each destination (a local folder, pyftpdlib FTP and FTPS, Debian's vsftpd, OpenSSH SFTP — all on
127.0.0.1, started here), publish the 1280x720 test pattern the way `camcast publish` does (webcam.jpg
then webcam.json, each to a temporary name and renamed) and print:

- latency p50/p99: from the frame's capture time to webcam.jpg being visible at its final name;
- cycles/s: back-to-back publishing cycles for --seconds, i.e. the shortest --every that keeps up.

    python bench/publish.py [--seconds 5] [--only ftp sftp]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from camcast.admin import self_signed
from camcast.camera import Camera
from camcast.config import CameraSettings
from camcast.publish import open_store
from camcast.publish.publisher import Publisher, PublishOptions
from camcast.publish.target import parse_target
from tests.peers import FTP_PASSWORD, pyftpdlib_server, sshd_server, vsftpd_server


@contextlib.contextmanager
def destinations(tmp: Path, only: list[str]) -> Iterator[list[tuple[str, str, dict[str, str]]]]:
    """(label, --to URL, store options) for each destination, with its server running."""
    with contextlib.ExitStack() as stack:
        out: list[tuple[str, str, dict[str, str]]] = []
        if "local" in only:
            out.append(("local folder", str(tmp / "local"), {}))
        if "ftp" in only:
            ftp = stack.enter_context(pyftpdlib_server(tmp / "ftp"))
            out.append(("FTP (pyftpdlib)", ftp.url, {}))
        if "ftps" in only:
            self_signed([], 30, tmp / "tls")
            cert = tmp / "tls" / "cert.pem"
            ftps = stack.enter_context(pyftpdlib_server(tmp / "ftps", tls_cert=cert))
            out.append(("FTPS (pyftpdlib)", ftps.url, {"ca_file": str(cert)}))
        if "vsftpd" in only:
            vs = stack.enter_context(vsftpd_server(tmp))
            out.append(("FTP (vsftpd)", vs.url, {}))
        if "sftp" in only:
            ssh = stack.enter_context(sshd_server(tmp))
            known = Path(os.environ["HOME"]) / ".ssh" / "known_hosts"
            known.parent.mkdir(parents=True, exist_ok=True)
            known.write_text(ssh.host_key_line + "\n")
            url = f"sftp://{ssh.user}@127.0.0.1:{ssh.port}{ssh.root}/site"
            out.append(("SFTP (OpenSSH)", url, {"identity": str(ssh.identity)}))
        yield out


async def measure(url: str, options: dict[str, str], seconds: float) -> tuple[float, float, float, int]:
    camera = Camera.open(CameraSettings(source="pattern", size=(1280, 720), fps=30))
    pictures = camera.rendition("publish")
    capture = asyncio.create_task(camera.run())
    store = open_store(parse_target(url), **options)  # type: ignore[arg-type]
    publisher = Publisher(pictures, store, PublishOptions(every=1.0, pages=False))
    try:
        await publisher.prepare()
        latencies = []
        for _ in range(40):
            frame = await pictures.snapshot()
            await publisher._publish(frame)  # webcam.jpg, then webcam.json
            latencies.append(time.time() - frame.wall - publisher.stats.last_seconds / 2)
            await asyncio.sleep(0.05)
        # capture-to-visible: webcam.jpg is renamed before webcam.json is written; time it alone
        visible = []
        for _ in range(40):
            frame = await pictures.snapshot()
            await store.put_atomic("webcam.jpg", frame.data)
            visible.append(time.time() - frame.wall)
            await asyncio.sleep(0.05)
        cycles = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await publisher._publish(await pictures.snapshot())
            cycles += 1
        visible.sort()
        return (
            visible[len(visible) // 2],
            visible[int(len(visible) * 0.99)],
            cycles / seconds,
            len(frame.data),
        )
    finally:
        capture.cancel()
        await store.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--only", nargs="+", default=["local", "ftp", "ftps", "vsftpd", "sftp"])
    args = parser.parse_args()
    os.environ["CAMCAST_UPLOAD_PASSWORD"] = FTP_PASSWORD
    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    logging.getLogger("camcast.publish.ftp").setLevel(logging.ERROR)  # the plain-FTP warning, expected here
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["HOME"] = tmp  # known_hosts for the SFTP peer, not the user's own
        with destinations(Path(tmp), args.only) as targets:
            print(
                "| destination | capture-to-visible p50 ms | p99 ms | publish cycles/s | shortest --every s |"
            )
            print("|---|---|---|---|---|")
            for label, url, options in targets:
                p50, p99, rate, size = await measure(url, options, args.seconds)
                print(
                    f"| {label} | {p50 * 1000:.1f} | {p99 * 1000:.1f} | {rate:.1f} | {1 / rate:.3f} |",
                    flush=True,
                )
            print(f"\n(one cycle = webcam.jpg of {size} bytes + webcam.json, each written and renamed)")


if __name__ == "__main__":
    asyncio.run(main())
