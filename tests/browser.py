"""Headless Chromium (Debian's) driven by Playwright, with the flags this closed network needs."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
from collections.abc import AsyncIterator

from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without these Chromium tries to reach Google's services at every start; nothing outside loopback is
# reachable here, and the tests must not try.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@contextlib.asynccontextmanager
async def chromium(*flags: str) -> AsyncIterator[Browser]:
    """Chromium, with ``flags`` beside the usual ones (a fake microphone, say)."""
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[*FLAGS, *flags])
        try:
            yield browser
        finally:
            await browser.close()


async def plays_steadily(page: Page, seconds: int, video: str = "camcast-video") -> None:
    """Assert that the page's ``<video id=VIDEO>`` plays: past the start, where hls.js may wait for or
    seek to the live edge (measured: up to ~1 s without progress in 1 run of 10), its currentTime
    advances about one second each second for ``seconds`` seconds."""
    current = f"() => document.getElementById('{video}').currentTime"
    await page.wait_for_function(f"() => ({current})() > 2.5", timeout=20000)
    times = []
    for _ in range(seconds + 1):
        times.append(await page.evaluate(current))
        await asyncio.sleep(1)
    steps = [b - a for a, b in itertools.pairwise(times)]
    assert all(0.7 < step < 1.3 for step in steps), times
