"""The three viewer pages in headless Chromium: each shows a picture that changes over time."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from tests.browser import chromium
from tests.conftest import camcast_server

pytestmark = pytest.mark.timeout(120)

SERVER_ARGS = ("--source", "pattern", "--size", "320x240", "--fps", "10")


async def picture(page: Page, selector: str) -> str:
    """A digest of the pixels the browser currently shows for the image ``selector`` (retried while a
    meta-refresh page is between two loads and the image is briefly not in the document)."""
    for _ in range(20):
        try:
            return await _picture(page, selector)
        except PlaywrightError:
            await asyncio.sleep(0.2)
    return await _picture(page, selector)


async def _picture(page: Page, selector: str) -> str:
    loaded = "i => i && i.complete && i.naturalWidth > 0"
    await page.wait_for_function(f"() => ({loaded})(document.querySelector({selector!r}))")
    return hashlib.sha256(await page.locator(selector).screenshot()).hexdigest()


async def changes(page: Page, selector: str, within: float) -> bool:
    first = await picture(page, selector)
    deadline = asyncio.get_running_loop().time() + within
    while asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.3)
        if await picture(page, selector) != first:
            return True
    return False


async def test_meta_refresh_page_reloads_whole_page() -> None:
    """/view/refresh?every=1 reloads the page (new navigation) and the picture changes."""
    async with camcast_server(*SERVER_ARGS) as server, chromium() as browser:
        page = await browser.new_page()
        loads = 0

        def count(_: object) -> None:
            nonlocal loads
            loads += 1

        page.on("load", count)
        await page.goto(server.url + "/view/refresh?every=1")
        assert await changes(page, "img.cam", within=5)
        await asyncio.sleep(1.5)
        assert loads >= 2


async def test_script_page_swaps_only_the_image() -> None:
    """/view/script reloads only the image (no navigation) and reports the update time."""
    async with camcast_server(*SERVER_ARGS) as server, chromium() as browser:
        page = await browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        navigations: list[str] = []
        page.on("framenavigated", lambda f: navigations.append(f.url))
        await page.goto(server.url + "/view/script?every=0.5")
        assert await changes(page, "#camcast-image", within=5)
        assert len(navigations) == 1
        await page.wait_for_function(
            "() => document.getElementById('camcast-status').textContent.startsWith('Updated')"
        )
        assert errors == []  # in particular, no CSP violation


async def test_script_page_shows_stale_when_loads_fail() -> None:
    """When the server goes away the image-refresh page says since when the picture is stale."""
    async with camcast_server(*SERVER_ARGS) as server, chromium() as browser:
        page = await browser.new_page()
        await page.goto(server.url + "/view/script?every=0.5")
        await picture(page, "#camcast-image")
        server.proc.terminate()
        await asyncio.to_thread(server.proc.wait, 10)
        await page.wait_for_function(
            "() => document.getElementById('camcast-status').textContent.startsWith('Stale since')",
            timeout=10000,
        )
        assert "stale" in (await page.get_attribute("#camcast-status", "class") or "")


async def test_stream_page_falls_back_to_mjpeg() -> None:
    """Where the browser can play neither WebRTC nor HLS (no Media Source, no native HLS),
    /view/stream shows the MJPEG stream in an <img> and says so: the picture changes without
    reloading. (Where it can, it plays video: tests/test_webrtc.py, tests/test_hls.py.)"""
    async with camcast_server(*SERVER_ARGS) as server, chromium() as browser:
        page = await browser.new_page()
        await page.add_init_script(
            "delete window.RTCPeerConnection; delete window.MediaSource; delete window.ManagedMediaSource;"
            "HTMLMediaElement.prototype.canPlayType = function () { return ''; };"
        )
        await page.goto(server.url + "/view/stream")
        assert await changes(page, "#camcast-stream", within=5)
        assert await page.get_attribute("#camcast-player", "data-mode") == "mjpeg"
        assert "MJPEG" in (await page.text_content("#camcast-status") or "")


async def test_index_links_lead_to_the_pages() -> None:
    """The index page's links open each viewer page."""
    async with camcast_server(*SERVER_ARGS) as server, chromium() as browser:
        page = await browser.new_page()
        await page.goto(server.url + "/")
        for name in ("Page refresh", "Image refresh", "Live stream"):
            await page.goto(server.url + "/")
            await page.get_by_role("link", name=name).first.click()
            await page.wait_for_selector(".cam:not([hidden])")  # the picture, or the live page's video


async def test_home_page_shows_the_camera_and_its_state_at_phone_width() -> None:
    """`/` at a phone's width (390 px): the live picture plays, nothing is wider than the screen, and
    the state badge follows the shutter (live, then paused) without reloading the page."""
    async with camcast_server(*SERVER_ARGS) as server, chromium() as browser:
        page = await browser.new_page(viewport={"width": 390, "height": 844})
        await page.goto(server.url + "/")
        await page.wait_for_function(
            "() => document.getElementById('camcast-player').dataset.mode !== ''", timeout=15000
        )
        assert await page.text_content("#camcast-state") == "live"
        assert await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        box = await page.locator("#camcast-player").bounding_box()
        assert box is not None and box["width"] <= 390
        response = await page.request.post(server.url + "/api/pause", headers={"Origin": server.url})
        assert response.status == 200
        await page.wait_for_function(
            "() => document.getElementById('camcast-state').textContent === 'paused'", timeout=10000
        )
        await page.request.post(server.url + "/api/resume", headers={"Origin": server.url})


#: Runs in the page: what a person would see wrong in its layout.
LAYOUT = """() => {
  const problems = [];
  const nav = [...document.querySelectorAll('header nav a')];
  if (new Set(nav.map(a => a.getBoundingClientRect().top)).size > 1) problems.push('the navigation wraps');
  for (const el of document.querySelectorAll('[hidden]'))
    if (el.getBoundingClientRect().height > 0)
      problems.push('hidden but shown: ' + (el.id || el.tagName));
  for (const a of document.querySelectorAll('main li > a, main dd > a'))
    if (parseFloat(getComputedStyle(a).marginRight) > 0)
      problems.push('space after a link: ' + a.textContent);
  for (const el of document.querySelectorAll('body *'))
    if (el.getBoundingClientRect().right > window.innerWidth + 1 && !el.closest('nav'))
      problems.push('wider than the screen: ' + (el.id || el.tagName));
  if (document.documentElement.scrollWidth > window.innerWidth + 1)
    problems.push('the page scrolls sideways');
  return problems;
}"""


async def test_pages_at_phone_and_desktop_widths(tmp_path: object) -> None:
    """Every page at 390 px (a phone) and 1366 px: the navigation on one line (scrolling sideways on a
    phone), nothing hidden shown (the MJPEG fallback under the video showed as a broken image), no gap
    between a link and its colon, and nothing wider than the screen."""
    pages = [
        "/",
        "/view/refresh",
        "/view/script",
        "/view/stream",
        "/view/live",
        "/view/recordings",
        "/settings",
        "/login",
    ]
    async with camcast_server(*SERVER_ARGS) as server, chromium() as browser:
        for width in (390, 1366):
            page = await browser.new_page(viewport={"width": width, "height": 800})
            for path in pages:
                await page.goto(server.url + path)
                await page.wait_for_load_state("load")
                problems = await page.evaluate(LAYOUT)
                assert problems == [], (width, path, problems)
            await page.close()
