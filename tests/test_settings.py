"""The owner's settings page in headless Chromium, as a person uses it: sign in, draw a privacy mask and
see it black in the next snapshot, draw a motion zone and find it in the config file beside the
owner's comments, type a wrong value and see its error with the file untouched, test a publishing
destination against a real FTP server, make a share link, open it elsewhere, revoke it. And the
refusals: no CSRF token, another Origin, a share link, HTTP Basic without a session: 403, nothing
changed."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import numpy as np
import pytest
from playwright.async_api import Browser, Page

from camcast.paths import config_dir
from camcast.picture.jpeg import decode_rgb
from camcast.security.accounts import Accounts
from tests.browser import chromium
from tests.conftest import Server, camcast_server, free_port
from tests.peers import FTP_PASSWORD, pyftpdlib_server
from tests.waiting import until

pytestmark = pytest.mark.timeout(150)

OWNER, PASSWORD = "olive", "owner-password-1"
BASIC = {"Authorization": "Basic " + base64.b64encode(f"{OWNER}:{PASSWORD}".encode()).decode()}
CONFIG = """\
# The porch camera: Olive's notes.
source = "pattern"  # the test pattern until the camera arrives
size = "320x240"
fps = 10

# Motion: only the path, not the street.
[motion]
# watch the door
enabled = false
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "camcast.toml"
    path.write_text(CONFIG)
    Accounts(config_dir() / "users.json").add(OWNER, PASSWORD, "owner")
    return path


def jar() -> aiohttp.CookieJar:
    """A cookie jar that keeps a server's cookies though it is named by an IP address (127.0.0.1)."""
    return aiohttp.CookieJar(unsafe=True)


@contextlib.asynccontextmanager
async def signed_in(config: Path) -> AsyncIterator[tuple[Server, Browser, Page]]:
    """A server on ``config`` and a browser page signed in on its settings page."""
    async with camcast_server("--config", str(config)) as server, chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        await page.goto(server.url + "/settings")
        assert "/login" in page.url  # nobody signed in yet: the sign-in form, then back
        await page.fill("#name", OWNER)
        await page.fill("#password", PASSWORD)
        await page.click("form.login button")
        await page.wait_for_url(server.url + "/settings")
        yield server, browser, page


async def open_section(page: Page, title: str) -> None:
    summary = page.locator("form.settings[data-camera='camera'] summary", has_text=re.compile(f"^{title}"))
    if await summary.locator("xpath=..").get_attribute("open") is None:
        await summary.click()


async def save(page: Page) -> str:
    form = page.locator("form.settings[data-camera='camera']")
    await form.locator("p.save button").click()
    out = form.locator("output.saved")
    saved = "document.querySelector(\"form.settings[data-camera='camera'] output.saved\").textContent"
    await page.wait_for_function(f"() => {saved} && !/Saving/.test({saved})")
    return str(await out.text_content())


async def picture_box(page: Page) -> dict[str, float]:
    await page.wait_for_function(
        "() => { const i = document.querySelector('.draw img.live'); return i && i.naturalWidth > 0; }"
    )
    box = await page.locator(".draw svg.shapes").bounding_box()
    assert box is not None
    return box


async def snapshot(server: Server) -> np.ndarray:
    async with (
        aiohttp.ClientSession(cookie_jar=jar()) as http,
        http.get(server.url + "/snapshot.jpg", headers=BASIC) as resp,
    ):
        assert resp.status == 200
        return decode_rgb(await resp.read())


async def test_a_mask_drawn_on_the_picture_is_black_in_the_next_snapshot(config: Path) -> None:
    async with signed_in(config) as (server, _, page):
        await open_section(page, "Privacy masks")
        box = await picture_box(page)
        # The left half's top: from 10%,10% to 50%,50% of the picture.
        await page.mouse.move(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.1)
        await page.mouse.down()
        await page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3, steps=4)
        await page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5, steps=4)
        await page.mouse.up()
        # Moved: dragged from inside by a tenth of the picture each way.
        await page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
        await page.mouse.down()
        await page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.4, steps=4)
        await page.mouse.up()
        masks = await page.input_value("#c-camera-mask")
        x, y, w, h = (float(v.rstrip("%")) for v in masks.split(","))
        assert abs(x - 20) < 1 and abs(y - 20) < 1 and abs(w - 40) < 1 and abs(h - 40) < 1, masks
        assert re.fullmatch(r"[\d.]+%,[\d.]+%,[\d.]+%,[\d.]+%", masks), masks
        assert "Saved" in await save(page)

        async def masked() -> bool:
            rgb = await snapshot(server)
            h, w = rgb.shape[:2]
            inside = rgb[int(h * 0.25) : int(h * 0.55), int(w * 0.25) : int(w * 0.55)]
            outside = rgb[int(h * 0.7) :, int(w * 0.7) :]
            return bool(inside.max() < 30 and outside.mean() > 30)

        await until(masked, seconds=10)
        text = config.read_text()
        assert f'mask = ["{masks}"]' in text
        assert text.startswith("# The porch camera: Olive's notes.\n")  # the owner's lines stay


async def test_a_zone_drawn_lands_in_the_motion_table_under_the_owners_comment(config: Path) -> None:
    async with signed_in(config) as (_, _, page):
        await open_section(page, "Privacy masks")
        box = await picture_box(page)
        await page.check("input[name='layer-camera'][value='motion_zones']")
        await page.check("input[name='shape'][value='poly']")
        for fx, fy in ((0.2, 0.5), (0.8, 0.5), (0.5, 0.9)):
            await page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
        await page.keyboard.press("Enter")
        zones = await page.input_value("#c-camera-motion_zones")
        assert len(zones.split()) == 3, zones
        # Deleted: an ignored area drawn by mistake, selected by a click, removed with the Delete key.
        await page.check("input[name='layer-camera'][value='motion_ignore']")
        await page.check("input[name='shape'][value='rect']")
        await page.mouse.move(box["x"] + box["width"] * 0.05, box["y"] + box["height"] * 0.05)
        await page.mouse.down()
        await page.mouse.move(box["x"] + box["width"] * 0.15, box["y"] + box["height"] * 0.15, steps=3)
        await page.mouse.up()
        assert await page.input_value("#c-camera-motion_ignore") != ""
        await page.mouse.click(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.1)
        await page.keyboard.press("Delete")
        assert await page.input_value("#c-camera-motion_ignore") == ""
        # A keyboard user can do what the mouse did: check the box that turns motion on.
        await open_section(page, "Motion")
        await page.focus("#c-camera-motion")
        await page.keyboard.press("Space")
        saved = await save(page)
        errors = await page.locator("form.settings output.error").all_text_contents()
        assert "Saved and applied" in saved, [e for e in errors if e]
        text = config.read_text()
        assert text.startswith(CONFIG.split("enabled = false")[0])  # everything above the edit, byte for byte
        motion = text.split("[motion]\n", 1)[1]
        assert motion.startswith("# watch the door\nenabled = true\nzones = [[["), text
        corners = tomllib.loads(text)["motion"]["zones"][0]
        assert np.allclose(corners, [[0.2, 0.5], [0.8, 0.5], [0.5, 0.9]], atol=0.01), corners
        # Motion is on now: what the detector sees lies over the picture while the sensitivity is set.
        await page.check("form.settings[data-camera='camera'] input.show-motion")
        shown = "i => !i.hidden && i.naturalWidth > 0"
        await page.wait_for_function(f"() => ({shown})(document.querySelector('img.motion-view'))")


async def test_a_wrong_value_shows_its_error_and_leaves_the_file_alone(config: Path) -> None:
    before = config.read_bytes()
    async with signed_in(config) as (_, _, page):
        await open_section(page, "Picture")
        await page.fill("#c-camera-quality", "500")
        await save(page)
        error = page.locator("#c-camera-quality-error")
        assert "whole number from 1 to 100" in str(await error.text_content())
        assert await page.locator(".field[data-key='quality']").get_attribute("class") == "field invalid"
    assert config.read_bytes() == before


async def test_publish_test_button_uploads_to_a_real_ftp_server(config: Path, tmp_path: Path) -> None:
    with pyftpdlib_server(tmp_path / "ftp") as ftp:
        async with signed_in(config) as (_, _, page):
            await open_section(page, "Publishing")
            await page.fill("#c-camera-publish_to", ftp.url)
            await page.fill("#c-camera-upload_password", FTP_PASSWORD)
            button = page.locator("form.settings[data-camera='camera'] button.test[data-test='publish']")
            result = page.locator("form.settings[data-camera='camera'] button[data-test='publish'] ~ output")
            output = "document.querySelector(\"button[data-test='publish'] ~ output\")"
            shown = f"s => {output}.textContent.includes(s)"
            await button.click()
            await page.wait_for_function(f"() => ({shown})('✔') || ({shown})('✘')")
            assert "works" in str(await result.text_content()), await result.text_content()
            ftp.stop_now()  # type: ignore[attr-defined]
            await button.click()
            await page.wait_for_function(f"() => ({shown})('✘')")
            message = str(await result.text_content())
            assert "127.0.0.1" in message and "\n" not in message, message
    assert "publish_to" not in config.read_text()  # a test saves nothing


async def test_share_link_made_opened_elsewhere_and_revoked(config: Path) -> None:
    async with signed_in(config) as (server, browser, page):
        await page.fill("#share-name", "neighbour")
        await page.select_option("#share-scope", "snapshot")
        await page.click("form.share-create button")
        link = page.locator(".share-new a.share-url")
        await until(link.text_content)
        url = str(await link.get_attribute("href"))
        assert url.startswith(server.url + "/snapshot.jpg?token=")
        assert await page.locator(".share-new .qr svg").count() == 1
        other = await browser.new_context()  # a second person: no cookie, only the link
        response = await other.request.get(url)
        assert response.status == 200 and response.headers["content-type"] == "image/jpeg"
        # The list shows it, with its last use; one click revokes it.
        row = page.locator("table.links tbody tr", has_text="neighbour")
        await page.reload()
        await until(lambda: row.count())
        assert "never" not in str(await row.text_content())
        await row.locator("button", has_text="Revoke").click()
        await until(lambda: row.filter(has_text="revoked").count())
        assert (await other.request.get(url)).status == 401
        await other.close()


async def test_changes_need_the_session_its_token_and_this_origin(config: Path) -> None:
    """Without the CSRF token, from another Origin, with a share link, or with HTTP Basic (no
    session): 403, and the file is as it was."""
    before = config.read_bytes()
    async with (
        camcast_server("--config", str(config)) as server,
        aiohttp.ClientSession(cookie_jar=jar()) as http,
    ):
        for elsewhere in ("//evil.example/", "/\t/evil.example/", "https://evil.example/", "\\evil"):
            login = {"name": OWNER, "password": PASSWORD, "next": elsewhere}  # never off this server
            async with http.post(server.url + "/login", data=login, allow_redirects=False) as resp:
                assert resp.headers["Location"] == "/settings", elsewhere
        login = {"name": OWNER, "password": PASSWORD, "next": "/view/live"}
        async with http.post(server.url + "/login", data=login, allow_redirects=False) as resp:
            cookie = resp.headers["Set-Cookie"]
            assert resp.status == 303 and resp.headers["Location"] == "/view/live"
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
            assert "Secure" not in cookie  # plain HTTP on loopback: a Secure cookie would never come back
        async with http.get(server.url + "/settings") as resp:
            found = re.search(r'name="csrf-token" content="([^"]+)"', await resp.text())
        assert found is not None
        token = found[1]
        change = {"camera": "camera", "values": {"quality": "50"}}
        url = server.url + "/api/settings"
        async with http.post(url, json=change) as resp:
            assert resp.status == 403 and "CSRF" in await resp.text()
        async with http.post(
            url, json=change, headers={"X-CSRF-Token": token, "Origin": "https://evil.example"}
        ) as resp:
            assert resp.status == 403
        async with http.post(url, json=change, headers={"X-CSRF-Token": "x" + token}) as resp:
            assert resp.status == 403
        async with http.post(server.url + "/api/shares", json={"action": "create", "scope": "watch"},
                             headers={"X-CSRF-Token": token}) as resp:  # fmt: skip
            share = (await resp.json())["url"].split("token=")[1]
        async with http.post(url + f"?token={share}", json=change, headers={"X-CSRF-Token": token}) as resp:
            assert resp.status == 403
        async with aiohttp.ClientSession() as basic:
            async with basic.post(url, json=change, headers=BASIC) as resp:
                assert resp.status == 403 and "settings page" in await resp.text()
            async with basic.get(server.url + "/settings", headers=BASIC) as resp:  # the page itself is fine
                assert resp.status == 200
        assert config.read_bytes() == before
        # With all three it applies, and a viewer's stream goes on through it.
        async with http.get(server.url + "/stream.mjpg", headers=BASIC) as stream:
            await stream.content.readexactly(1000)
            async with http.post(url, json=change, headers={"X-CSRF-Token": token}) as resp:
                assert resp.status == 200, await resp.text()
            pictures = 0
            while pictures < 3:  # three more pictures on the same connection
                chunk = await stream.content.readany()
                assert chunk, "the stream ended"
                pictures += chunk.count(b"\xff\xd8\xff")
    assert "quality = 50" in config.read_text()


async def test_sign_in_lockout_and_sessions_that_end(config: Path) -> None:
    """Wrong passwords on the form lock the address out as HTTP Basic does; removing an account or
    changing its password ends its sessions."""
    async with (
        camcast_server("--config", str(config)) as server,
        aiohttp.ClientSession(cookie_jar=jar()) as http,
    ):
        statuses = []
        for _ in range(12):
            async with http.post(server.url + "/login", data={"name": OWNER, "password": "wrong"}) as resp:
                statuses.append(resp.status)
        assert statuses[0] == 401 and statuses[-1] == 429
    Accounts(config_dir() / "users.json").add("ann", "ann-password-1", "owner")
    async with (
        camcast_server("--config", str(config)) as server,
        aiohttp.ClientSession(cookie_jar=jar()) as ann,
        aiohttp.ClientSession(cookie_jar=jar()) as olive,
    ):
        for session, name, password in ((ann, "ann", "ann-password-1"), (olive, OWNER, PASSWORD)):
            async with session.post(server.url + "/login", data={"name": name, "password": password}) as resp:
                assert resp.status == 200 and resp.url.path == "/settings"
        async with olive.get(server.url + "/settings") as resp:
            token = re.search(r'name="csrf-token" content="([^"]+)"', await resp.text())[1]  # type: ignore[index]
        remove = {"action": "remove", "name": "ann"}
        async with olive.post(
            server.url + "/api/accounts", json=remove, headers={"X-CSRF-Token": token}
        ) as resp:
            assert resp.status == 200 and [a["name"] for a in (await resp.json())["accounts"]] == [OWNER]
        async with ann.get(server.url + "/api/accounts") as resp:
            assert resp.status == 401  # her session ended with her account
        last = {"action": "remove", "name": OWNER}
        async with olive.post(
            server.url + "/api/accounts", json=last, headers={"X-CSRF-Token": token}
        ) as resp:
            assert resp.status == 400 and "last owner" in (await resp.json())["error"]
        nvr = {"action": "add", "name": "nvr", "password": "nvr-password-1", "role": "viewer", "onvif": "1"}
        csrf = {"X-CSRF-Token": token}
        async with olive.post(server.url + "/api/accounts", json=nvr, headers=csrf) as resp:
            listed = {a["name"]: a for a in (await resp.json())["accounts"]}
            assert resp.status == 200 and listed["nvr"]["onvif"] is True and listed[OWNER]["onvif"] is False
        change = {"action": "password", "name": OWNER, "password": "a-new-password-2"}
        async with olive.post(
            server.url + "/api/accounts", json=change, headers={"X-CSRF-Token": token}
        ) as resp:
            assert resp.status == 200
            new_token = (await resp.json())["csrf"]  # still signed in, with a new session
        async with olive.get(server.url + "/api/accounts") as resp:
            assert resp.status == 200
        assert new_token != token
        # Signing out needs the token too, then ends the session.
        async with olive.post(server.url + "/logout", data={"csrf": token}) as resp:
            assert resp.status == 403
        async with olive.post(server.url + "/logout", data={"csrf": new_token}) as resp:
            assert resp.status == 200 and resp.url.path == "/login"
        async with olive.get(server.url + "/api/accounts") as resp:
            assert resp.status == 401


async def test_every_setting_is_on_the_page_and_a_flag_is_not_editable(config: Path) -> None:
    """Every declared setting has its field; one given as a flag is shown locked, and a save of it is
    refused on that field (the flag would win over the file)."""
    from camcast.config import CAMERA_FIELDS, SERVER_FIELDS

    async with (
        camcast_server("--config", str(config), "--quality", "70") as server,
        aiohttp.ClientSession(cookie_jar=jar()) as http,
    ):
        async with http.post(server.url + "/login", data={"name": OWNER, "password": PASSWORD}) as resp:
            page = await resp.text()
        for key in CAMERA_FIELDS:
            assert f'id="c-camera-{key}"' in page, key
        for key in SERVER_FIELDS:
            assert f'id="s-{key}"' in page, key
        quality = re.search(r'<input [^>]*id="c-camera-quality"[^>]*>', page)
        assert quality is not None and "disabled" in quality[0] and "--quality" in page
        token = re.search(r'name="csrf-token" content="([^"]+)"', page)[1]  # type: ignore[index]
        change = {"camera": "camera", "values": {"quality": "50"}}
        headers = {"X-CSRF-Token": token}
        async with http.post(server.url + "/api/settings", json=change, headers=headers) as resp:
            assert resp.status == 400 and "--quality" in (await resp.json())["errors"]["quality"]
    assert "quality" not in config.read_text()


async def test_settings_page_at_phone_width_and_with_a_keyboard(config: Path) -> None:
    async with signed_in(config) as (_, _, page):
        await page.goto(page.url.replace("/settings", "/"))  # the camera's page has the way back here
        await page.click("nav a:has-text('Settings')")
        await page.wait_for_url("**/settings")
        await page.set_viewport_size({"width": 390, "height": 800})
        wide = await page.evaluate("() => document.documentElement.scrollWidth")
        past = await page.evaluate(
            "() => [...document.querySelectorAll('main *')]"
            ".filter(e => e.getBoundingClientRect().right > 390"
            " && getComputedStyle(e.parentElement).overflowX === 'visible')"
            ".map(e => e.outerHTML.slice(0, 80))"
        )
        assert wide <= 390, f"the page is {wide} px wide at 390: {past}"
        # A section opens from the keyboard.
        summary = page.locator("form.settings[data-camera='camera'] summary").first
        await summary.focus()
        await page.keyboard.press("Enter")
        assert await summary.locator("xpath=..").get_attribute("open") is not None


async def test_notify_test_button_reaches_the_webhook_the_command_and_mqtt(
    config: Path, tmp_path: Path
) -> None:
    """Test sends one ``test`` message through each notifier the form names (not saved): a webhook
    receiver gets it, a command runs with CAMCAST_EVENT=test, Mosquitto takes it; a dead one fails."""
    import aiomqtt

    from tests.conftest import web_site
    from tests.peers import mosquitto_server, webhook_receiver

    receiver, got = webhook_receiver()
    ran = tmp_path / "ran.txt"
    script = tmp_path / "tell.sh"
    script.write_text(f'#!/bin/sh\necho "$CAMCAST_EVENT $CAMCAST_CAMERA" > {ran}\n')
    script.chmod(0o755)
    with mosquitto_server(tmp_path) as broker:
        async with (
            web_site(receiver) as site,
            camcast_server("--config", str(config)) as server,
            aiohttp.ClientSession(cookie_jar=jar()) as http,
            aiomqtt.Client("127.0.0.1", broker.port) as watcher,
        ):
            await watcher.subscribe("camcast/camera/test")
            async with http.post(server.url + "/login", data={"name": OWNER, "password": PASSWORD}) as resp:
                token = re.search(r'name="csrf-token" content="([^"]+)"', await resp.text())[1]  # type: ignore[index]
            values = {"motion_on_event": site + "/hook", "motion_on_event_command": str(script),
                      "motion_mqtt": broker.url}  # fmt: skip
            body = {"camera": "camera", "test": "notify", "values": values}
            async with http.post(
                server.url + "/api/settings/test", json=body, headers={"X-CSRF-Token": token}
            ) as resp:
                result = await resp.json()
            assert result["ok"], result
            assert got[0]["type"] == "test" and got[0]["event"]["camera"] == "camera"  # type: ignore[index]
            assert ran.read_text() == "test camera\n"
            async with asyncio.timeout(10):
                message = await anext(aiter(watcher.messages))
            assert message.payload == b"test"
            values["motion_on_event"] = site + "/nowhere"  # a 404: said in one line, the others still work
            async with http.post(
                server.url + "/api/settings/test", json=body, headers={"X-CSRF-Token": token}
            ) as resp:
                result = await resp.json()
            assert not result["ok"] and "answered HTTP 404" in result["message"], result
            assert "exited with status 0" in result["message"]
    assert "on_event" not in config.read_text()  # a test saves nothing


async def test_over_https_the_cookie_is_secure_and_the_page_shows_the_fingerprint(
    config: Path, tmp_path: Path
) -> None:
    import hashlib
    import ssl

    from tests.conftest import free_port, run_cli

    made = run_cli("tls", "self-signed", "--out", str(tmp_path))
    assert made.returncode == 0, made.stderr
    cert = tmp_path / "cert.pem"
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    digest = hashlib.sha256(der).hexdigest().upper()
    fingerprint = ":".join(digest[i : i + 2] for i in range(0, 64, 2))
    ctx = ssl.create_default_context(cafile=str(cert))
    port = free_port()
    args = ("--config", str(config), "--tls-cert", str(cert), "--tls-key", str(tmp_path / "key.pem"))
    async with (
        camcast_server(*args, port=port, scheme="https", ssl_context=ctx) as server,
        aiohttp.ClientSession(cookie_jar=jar(), connector=aiohttp.TCPConnector(ssl=ctx)) as http,
    ):
        login = {"name": OWNER, "password": PASSWORD}
        async with http.post(server.url + "/login", data=login, allow_redirects=False) as resp:
            cookie = resp.headers["Set-Cookie"]
            assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        async with http.get(server.url + "/settings") as resp:
            page = await resp.text()
        assert fingerprint in page


async def test_a_command_is_set_only_from_a_browser_on_this_computer(config: Path, tmp_path: Path) -> None:
    """Owner credentials used from elsewhere (here: a request naming another host, as a browser on
    another machine does) cannot make camcast run a program: the command is shown but locked."""
    before = config.read_bytes()
    ran = tmp_path / "ran"
    async with (
        camcast_server("--config", str(config)) as server,
        aiohttp.ClientSession(cookie_jar=jar()) as http,
    ):
        elsewhere = {"Host": f"camera.home:{server.port}"}
        login = {"name": OWNER, "password": PASSWORD}
        async with http.post(server.url + "/login", data=login, headers=elsewhere) as resp:
            page = await resp.text()
        field = re.search(r'<input [^>]*id="c-camera-motion_on_event_command"[^>]*>', page)
        assert field is not None and "disabled" in field[0] and "from a browser on this computer" in page
        token = re.search(r'name="csrf-token" content="([^"]+)"', page)[1]  # type: ignore[index]
        values = {"motion_on_event_command": f"touch {ran}"}
        for url, body in (
            ("/api/settings", {"camera": "camera", "values": values}),
            ("/api/settings/test", {"camera": "camera", "test": "notify", "values": values}),
        ):
            headers = {**elsewhere, "X-CSRF-Token": token}
            async with http.post(server.url + url, json=body, headers=headers) as resp:
                assert resp.status == 400, url
                assert "this computer" in (await resp.json())["errors"]["motion_on_event_command"]
    assert config.read_bytes() == before and not ran.exists()


async def test_several_cameras_each_have_their_form_and_picture(tmp_path: Path) -> None:
    """With [cameras] tables, each camera has its form and its own live picture to draw on, and a save
    lands in that camera's table."""
    Accounts(config_dir() / "users.json").add(OWNER, PASSWORD, "owner")
    config = tmp_path / "camcast.toml"
    pattern = 'source = "pattern"\nsize = "160x120"\nfps = 5\n'
    config.write_text(f"# two\n[cameras.front]\n{pattern}\n[cameras.back]\n{pattern}")
    async with (
        camcast_server("--config", str(config)) as server,
        aiohttp.ClientSession(cookie_jar=jar()) as http,
    ):
        async with http.post(server.url + "/login", data={"name": OWNER, "password": PASSWORD}) as resp:
            page = await resp.text()
        for name in ("front", "back"):
            assert f'data-camera="{name}"' in page and f'data-snapshot="/cam/{name}/snapshot.jpg"' in page
        token = re.search(r'name="csrf-token" content="([^"]+)"', page)[1]  # type: ignore[index]
        change = {"camera": "back", "values": {"mask": ["0,0,50%,50%"], "camera_name": "Garden"}}
        async with http.post(
            server.url + "/api/settings", json=change, headers={"X-CSRF-Token": token}
        ) as resp:
            assert resp.status == 200, await resp.text()
        async with http.get(server.url + "/status.json") as resp:
            titles = {c["name"]: c["title"] for c in (await resp.json())["cameras"]}
        assert titles == {"front": "front", "back": "Garden"}  # applied at once
    back = tomllib.loads(config.read_text())["cameras"]["back"]
    assert (
        back["mask"] == ["0,0,50%,50%"]
        and "mask" not in tomllib.loads(config.read_text())["cameras"]["front"]
    )


async def test_shapes_typed_into_a_field_are_read_by_the_server_and_drawn(config: Path) -> None:
    """A mask in pixels and a polygon zone typed into their fields are drawn on the picture as the
    server's parsers read them (the page parses no setting's text); a line that does not parse is a
    400 naming the field, and the drawing keeps what it had."""
    async with signed_in(config) as (server, _, page):
        await open_section(page, "Privacy masks")
        await page.fill("#c-camera-mask", "0,0,160,60")  # pixels of the 320x240 picture
        await page.fill("#c-camera-motion_zones", "0.1,0.1 0.9,0.1 0.5,0.9")
        await page.wait_for_function("() => document.querySelectorAll('svg.shapes polygon').length >= 2")
        cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
        async with aiohttp.ClientSession(cookies=cookies) as http:
            url = server.url + "/api/settings/shapes"
            async with http.get(url, params={"mask": "0,0,160,60\n10%,0 20%,0 20%,10%"}) as resp:
                drawn = (await resp.json())["shapes"]
            assert drawn[0] == {"layer": "mask", "kind": "rect",
                                "pts": [[0, 0], [0.5, 0], [0.5, 0.25], [0, 0.25]]}  # fmt: skip
            assert drawn[1]["kind"] == "poly" and drawn[1]["pts"][1] == [0.2, 0]
            async with http.get(url, params={"motion_ignore": "1,2"}) as resp:
                assert resp.status == 400 and "motion_ignore" in (await resp.json())["errors"]
        first = "document.querySelector('svg.shapes polygon.mask').getAttribute('points')"
        await page.wait_for_function(f"() => {first} === '0,0 500,0 500,250 0,250'")
        await page.fill("#c-camera-mask", "0,0,160")  # half typed: the drawing stays as it was
        await page.fill("#c-camera-mask", "0,0,160,6")
        await page.wait_for_function(f"() => {first} === '0,0 500,0 500,25 0,25'")
        assert await page.locator("svg.shapes polygon").count() == 2


async def test_a_stream_link_made_on_the_page_lists_every_address_and_recordings_are_offered(
    config: Path,
) -> None:
    """A stream link made on the page comes with each of its addresses (MJPEG, HLS, WHEP, RTSP), and
    the recordings scope the command line has is offered and made."""
    rtsp = free_port()
    async with (
        camcast_server("--config", str(config), "--rtsp", f"127.0.0.1:{rtsp}") as server,
        aiohttp.ClientSession(cookie_jar=jar()) as http,
    ):
        login = {"name": OWNER, "password": PASSWORD, "next": "/settings"}
        async with http.post(server.url + "/login", data=login) as resp:
            page = await resp.text()
        token = re.search(r'name="csrf-token" content="([^"]+)"', page)
        assert token is not None and '<option value="recordings">' in page
        shares = server.url + "/api/shares"
        headers = {"X-CSRF-Token": token[1]}
        async with http.post(shares, json={"action": "create", "scope": "stream"}, headers=headers) as resp:
            urls = (await resp.json())["urls"]
        paths = [u.split("?")[0] for u in urls]
        assert [p.rsplit("/", 1)[-1] for p in paths[:4]] == [
            "snapshot.jpg",
            "stream.mjpg",
            "index.m3u8",
            "whep",
        ]
        assert paths[4] == f"rtsp://127.0.0.1:{rtsp}/camera", urls
        async with http.post(
            shares, json={"action": "create", "scope": "recordings"}, headers=headers
        ) as resp:
            assert resp.status == 200 and "/view/recordings" in (await resp.json())["url"]
