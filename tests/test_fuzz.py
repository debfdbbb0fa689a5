"""Generated malformed requests against a running server with viewers (the fast subset of
``bench/fuzz.py``): no internal error, no traceback, descriptors back where they were, viewers served."""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import camcast_server, free_port
from tests.fuzzing import attack, tracebacks

FPS = 15
#: The server fuzzed (bench/fuzz.py's too): a small pattern, recorded in short files so that byte
#: ranges of real files are asked for.
SERVED = ("--source", "pattern", "--size", "320x240", "--fps", str(FPS),
          "--record", "continuous", "--record-file-minutes", "0.05", "--record-min-free", "0")  # fmt: skip


async def test_malformed_requests_on_every_door_cost_the_viewers_nothing(isolated_home: Path) -> None:
    """A few hundred generated requests at each door, from a new seed each run (in every failure's
    message: `python bench/fuzz.py --seed N --count 400` makes the same requests again)."""
    rtsp = free_port()
    seed = int.from_bytes(os.urandom(2))
    async with camcast_server(*SERVED, "--rtsp", f"127.0.0.1:{rtsp}") as server:
        outcome = await attack(
            server.port,
            rtsp,
            server.proc.pid,
            "camera",
            {"HTTP": 400, "RTSP": 250, "WHEP": 60},
            seconds=60,
            seed=seed,
            recording=True,
        )
        log = (Path(os.environ["XDG_STATE_HOME"]) / "camcast" / "camcast.log").read_text()
        assert server.proc.poll() is None, "the server stopped"
        logged = tracebacks(log, server.stderr_so_far())
    for tally in outcome.tallies:
        assert tally.sent and tally.failures == 0, (seed, tally.protocol, tally.statuses, tally.wrong)
        assert sum(tally.statuses.values()) > tally.sent / 2, (seed, tally.protocol, tally.statuses)
    assert logged == 0, (seed, log)
    assert outcome.descriptors[1] <= outcome.descriptors[0], (seed, outcome)
    assert min(outcome.viewer_fps.values()) > FPS / 2, (seed, outcome)
