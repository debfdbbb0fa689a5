"""How soon a revoked share link's open streams end: the time from the revocation written to
``links.json`` (as ``camcast share --revoke`` writes it) to the end of the link's MJPEG stream and of
its RTSP session, over ``--rounds`` rounds against one running server.

    python bench/consent.py --rounds 20
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
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from fanout import free_port, stop, wait_healthy  # noqa: E402

from tests.test_consent import rtsp_playing, until_closed  # noqa: E402


async def rounds(port: int, rtsp_port: int, count: int, config: Path) -> dict[str, list[float]]:
    from camcast.security.links import ShareLinks
    from camcast.security.tokens import ShareKeys

    links = ShareLinks(ShareKeys(config / "share.key"), config / "links.json")
    took: dict[str, list[float]] = {"MJPEG": [], "RTSP": []}
    async with aiohttp.ClientSession() as http:
        for _ in range(count):
            link, token = links.issue("bench", 3600, "stream")
            async with http.get(f"http://127.0.0.1:{port}/stream.mjpg?token={token}") as mjpeg:
                await mjpeg.content.readexactly(2000)
                reader, writer = await rtsp_playing(rtsp_port, f"/?token={token}")
                await asyncio.to_thread(links.revoke, link.id)  # the file written: from here
                ended = await asyncio.gather(until_closed(mjpeg.content, 5), until_closed(reader, 5))
                writer.close()
            took["MJPEG"].append(ended[0] * 1000)
            took["RTSP"].append(ended[1] * 1000)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        env = {**os.environ, "XDG_CONFIG_HOME": str(home / "config"), "XDG_STATE_HOME": str(home / "state")}
        os.environ.update(env)  # this process writes the same registries the server reads
        from camcast.security.accounts import Accounts

        Accounts(home / "config" / "camcast" / "users.json").add("olive", "owner-password-1", "owner")
        port, rtsp_port = free_port(), free_port()
        serve = ["serve", "--source", "pattern", "--size", "320x240", "--fps", "15", "--quiet",
                 "--listen", f"127.0.0.1:{port}", "--rtsp", f"127.0.0.1:{rtsp_port}"]  # fmt: skip
        server = subprocess.Popen([sys.executable, "-m", "camcast", *serve], env=env)
        try:
            wait_healthy(port, server)
            took = asyncio.run(rounds(port, rtsp_port, args.rounds, home / "config" / "camcast"))
        finally:
            stop(server)
    print(f"# {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; {args.rounds} "
          "revocations, each with an MJPEG stream and an RTSP session open")  # fmt: skip
    print("| protocol | revoked → ended p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|")
    for name, values in took.items():
        values.sort()
        p95 = values[max(0, int(len(values) * 0.95) - 1)]
        print(f"| {name} | {statistics.median(values):.0f} | {p95:.0f} | {values[-1]:.0f} |")


if __name__ == "__main__":
    main()
