"""ONVIF: camcast adopted as Home Assistant's integration adopts a camera (its own client library,
onvif-zeep-async), its stream opened by FFmpeg and its picture fetched, motion events pulled and pushed,
credentials checked as the standard says and as camcast's accounts say, hostile SOAP answered with
faults, Synology's and UniFi Protect's adoption requests replayed, and WS-Discovery heard by the
Python WS-Discovery implementation across a pair of network namespaces."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import zeep.exceptions
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st
from onvif import ONVIFCamera

from camcast.onvif.context import identity
from camcast.security.accounts import Accounts
from tests.conftest import Server, home_env, run_cli, sync_server, web_site
from tests.media import make_video
from tests.peers import free_ports
from tests.scenes import Mover, Scene
from tests.waiting import until

pytestmark = pytest.mark.timeout(120)

NVR = ("nvr", "nvr-password-1")  # a viewer made for ONVIF
OWNER = ("olive", "owner-password-1")  # an owner made for ONVIF
PLAIN = ("victor", "viewer-password-1")  # a viewer without --onvif: no digest can be checked for it
GONE = ("gone", "gone-password-1")  # an NVR's account the owner removes while it watches
DEVICE = "http://www.onvif.org/ver10/device/wsdl"
MEDIA = "http://www.onvif.org/ver10/media/wsdl"
FIXTURES = Path(__file__).parent / "onvif"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("onvif")
    accounts = Accounts(home / "config" / "camcast" / "users.json")
    accounts.add(*NVR, "viewer", onvif=True)
    accounts.add(*OWNER, "owner", onvif=True)
    accounts.add(*PLAIN, "viewer")
    accounts.add(*GONE, "viewer", onvif=True)
    return home


@pytest.fixture(scope="module")
def camera(home: Path) -> Iterator[tuple[Server, int]]:
    """A camera that sees a block cross every 8 s (motion from 2 s to 4 s of each loop), with RTSP and
    ONVIF on loopback."""
    scene = Scene(width=320, height=180, seconds=8, noise=3, movers=(Mover(2, 4, 40, 60, 0.3, 30),))
    video = make_video(home / "crossing.mkv", codec="mjpeg", frames=80, fps=10, size=(320, 180),
                       picture=lambda i: scene.luma(i / 10, i))  # fmt: skip
    (rtsp,) = free_ports(1)
    args = ("--source", str(video), "--motion", "--motion-gap-seconds", "1", "--rtsp", f"127.0.0.1:{rtsp}",
            "--onvif")  # fmt: skip
    with sync_server(*args, home=home) as server:
        yield server, rtsp
    print(server.stdout, server.stderr)


def client(server: Server, who: tuple[str, str] = NVR) -> ONVIFCamera:
    return ONVIFCamera("127.0.0.1", server.port, who[0], who[1])


def envelope(body: str, header: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
        f"<s:Header>{header}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def username_token(name: str, password: str, nonce: bytes | None = None, created: str | None = None) -> str:
    """A WS-Security UsernameToken with a PasswordDigest, as cameras' clients make it."""
    nonce = nonce or os.urandom(16)
    created = created or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    digest = base64.b64encode(hashlib.sha1(nonce + created.encode() + password.encode()).digest()).decode()
    return (
        '<wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"'
        ' xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">'
        f"<wsse:UsernameToken><wsse:Username>{name}</wsse:Username>"
        '<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0'
        f'#PasswordDigest">{digest}</wsse:Password><wsse:Nonce>{base64.b64encode(nonce).decode()}</wsse:Nonce>'
        f"<wsu:Created>{created}</wsu:Created></wsse:UsernameToken></wsse:Security>"
    )


async def post(url: str, body: bytes, **kw: Any) -> tuple[int, str, dict[str, str]]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url, data=body, headers={"Content-Type": "application/soap+xml"}, **kw) as resp,
    ):
        return resp.status, await resp.text(), dict(resp.headers)


def fault_codes(text: str) -> list[str]:
    return re.findall(r"<s:Value>([^<]+)</s:Value>", text)


async def test_home_assistant_adopts_it_and_ffmpeg_plays_what_it_is_given(camera: tuple[Server, int]) -> None:
    """Home Assistant's own calls, in its order: services, time, device information, capabilities,
    network interfaces (the camera's MAC), profiles, the stream URI (opened by ffprobe) and the snapshot
    (fetched with the account); the serial number is the installation's for this camera."""
    server, _ = camera
    cam = client(server)
    try:
        await cam.update_xaddrs()
        assert {"http://www.onvif.org/ver10/media/wsdl", "http://www.onvif.org/ver10/events/wsdl"} <= set(
            cam.xaddrs
        )
        devicemgmt = await cam.create_devicemgmt_service()
        clock = await devicemgmt.GetSystemDateAndTime()
        assert abs(clock.UTCDateTime.Date.Year - dt.datetime.now(dt.UTC).year) <= 1
        info = await devicemgmt.GetDeviceInformation()
        state = Path(home_env_state(server)) / "onvif.id"
        assert info.Manufacturer == "camcast" and info.SerialNumber == identity(state.parent).serial("camera")
        capabilities = await devicemgmt.GetCapabilities({"Category": "All"})
        assert capabilities.Events.WSPullPointSupport is True and capabilities.Media.XAddr.endswith(
            "/onvif/media_service"
        )
        interfaces = await devicemgmt.GetNetworkInterfaces()
        assert interfaces and all(
            i.Info.HwAddress == identity(state.parent).mac("camera") for i in interfaces
        )
        media = await cam.create_media_service()
        profiles = await media.GetProfiles()
        assert [p.token for p in profiles] == ["main"]
        encoder = profiles[0].VideoEncoderConfiguration
        assert (encoder.Encoding, encoder.Resolution.Width, encoder.Resolution.Height) == ("H264", 320, 180)
        # The rate measured (a file plays at its own): 10 a second, give or take the last second's jitter
        assert abs(encoder.RateControl.FrameRateLimit - 10) <= 1 and encoder.H264.H264Profile in (
            "Baseline",
            "Main",
            "High",
        )
        options = await media.GetVideoEncoderConfigurationOptions({"ProfileToken": "main"})
        assert options.H264.ResolutionsAvailable[0].Width == 320
        uri = await media.GetStreamUri(
            {
                "ProfileToken": "main",
                "StreamSetup": {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}},
            }
        )
        probe = await asyncio.to_thread(
            subprocess.run,
            ["ffprobe", "-v", "error", "-rtsp_transport", "tcp",
             "-show_entries", "stream=codec_name,width,height",
             "-of", "json", uri.Uri], capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert probe.returncode == 0, probe.stderr
        assert json.loads(probe.stdout)["streams"][0] == {"codec_name": "h264", "width": 320, "height": 180}
        picture = await cam.get_snapshot("main")
        assert picture is not None and picture[:2] == b"\xff\xd8"
    finally:
        await cam.close()


SYNC_CLIENT = """
import json, sys
sys.path.insert(0, sys.argv[1])  # python-onvif-zeep's folder first: its module is named onvif too
from onvif import ONVIFCamera
port, user, password, wsdl = int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
cam = ONVIFCamera("127.0.0.1", port, user, password, wsdl_dir=wsdl)
info = cam.devicemgmt.GetDeviceInformation()
media = cam.create_media_service()
profile = media.GetProfiles()[0]
setup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
uri = media.GetStreamUri({"ProfileToken": profile.token, "StreamSetup": setup}).Uri
snapshot = media.GetSnapshotUri({"ProfileToken": profile.token}).Uri
width = profile.VideoEncoderConfiguration.Resolution.Width
print(json.dumps({"module": __import__("onvif").__file__, "serial": info.SerialNumber,
                  "profile": profile.token, "width": width, "uri": uri, "snapshot": snapshot}))
"""


async def test_python_onvif_zeep_with_digest_credentials(camera: tuple[Server, int]) -> None:
    """The synchronous python-onvif-zeep (WS-UsernameToken digests) gets the device's information, its
    profile and the stream and snapshot URIs; FFmpeg plays the stream and the snapshot is a JPEG."""
    import onvif

    server, _ = camera
    folder = Path(sys.executable).parent.parent / "python-onvif-zeep"
    assert (folder / "onvif").is_dir(), "scripts/test installs python-onvif-zeep into .venv/python-onvif-zeep"
    wsdl = Path(onvif.__file__).parent / "wsdl"  # the same ONVIF WSDLs, from onvif-zeep-async
    ran = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", SYNC_CLIENT, str(folder), str(server.port), *NVR, str(wsdl)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    got = json.loads(ran.stdout)
    assert got["module"].startswith(str(folder)) and got["profile"] == "main" and got["width"] == 320
    assert re.fullmatch(r"[0-9A-F]{16}", got["serial"])
    frames = await asyncio.to_thread(
        subprocess.run, ["ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", got["uri"],
                         "-frames:v", "5", "-f", "null", "-"], capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert frames.returncode == 0, frames.stderr
    async with aiohttp.ClientSession() as http, http.get(got["snapshot"]) as resp:
        assert resp.status == 200 and (await resp.read())[:2] == b"\xff\xd8"


def home_env_state(server: Server) -> str:
    """The state folder of the module's server (its XDG world)."""
    environ = Path(f"/proc/{server.proc.pid}/environ").read_bytes().split(b"\0")
    found = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
    return str(Path(found["XDG_STATE_HOME"]) / "camcast")


async def test_a_motion_event_reaches_a_pull_point_within_a_second_and_a_consumer(
    camera: tuple[Server, int],
) -> None:
    """PullPoint as Home Assistant runs it: the subscription starts with each topic's state, and the
    block's crossing arrives as MotionAlarm and CellMotionDetector, each within 1 s of the event's
    start as /api/events records it; base notification posts the same to a consumer; Renew, then
    Unsubscribe ends it."""
    server, _ = camera
    pushed: list[bytes] = []

    async def consumer(request: web.Request) -> web.Response:
        pushed.append(await request.read())
        return web.Response()

    app = web.Application()
    app.router.add_post("/notify", consumer)
    cam = client(server)
    async with web_site(app) as consumer_url:
        try:
            await cam.update_xaddrs()
            lost: list[bool] = []
            manager = await cam.create_pullpoint_manager(dt.timedelta(seconds=60), lambda: lost.append(True))
            notifications = await cam.create_notification_manager(
                consumer_url + "/notify", dt.timedelta(seconds=60), lambda: lost.append(True)
            )
            pull = manager.get_service()
            first = await pull.PullMessages({"MessageLimit": 10, "Timeout": dt.timedelta(seconds=2)})
            initial = {
                m.Topic._value_1: m.Message._value_1.PropertyOperation for m in first.NotificationMessage
            }
            assert initial == {"tns1:VideoSource/MotionAlarm": "Initialized",
                               "tns1:RuleEngine/CellMotionDetector/Motion": "Initialized"}  # fmt: skip
            arrived: dict[str, float] = {}
            deadline = time.monotonic() + 30
            while len(arrived) < 2 and time.monotonic() < deadline:
                got = await pull.PullMessages({"MessageLimit": 10, "Timeout": dt.timedelta(seconds=5)})
                now = time.time()
                for m in got.NotificationMessage:
                    message = m.Message._value_1
                    if message.PropertyOperation == "Changed" and message.Data.SimpleItem[0].Value == "true":
                        arrived.setdefault(m.Topic._value_1, now)
            assert set(arrived) == {
                "tns1:VideoSource/MotionAlarm",
                "tns1:RuleEngine/CellMotionDetector/Motion",
            }
            async with aiohttp.ClientSession() as http:
                owner = {"Authorization": "Basic " + base64.b64encode(":".join(OWNER).encode()).decode()}
                async with http.get(server.url + "/api/events", headers=owner) as resp:
                    events = (await resp.json())["events"]
                async with http.get(server.url + "/status.json", headers=owner) as resp:
                    told = (await resp.json())["cameras"][0]["onvif"]["subscriptions"]
            # The owner sees who takes the camera's events, and where they are sent.
            assert {"nvr"} == {t["account"] for t in told} and consumer_url + "/notify" in [
                t.get("to") for t in told
            ]
            started = max(
                dt.datetime.fromisoformat(e["start"]).timestamp() for e in events if e["kind"] == "motion"
            )
            late = max(arrived.values()) - started
            print(f"motion start to a PullPoint subscriber: {late * 1000:.0f} ms")
            assert 0 <= late <= 1.0, late
            await until(
                lambda: any(b"MotionAlarm" in body and b'Value="true"' in body for body in pushed), seconds=20
            )
            parsed = notifications.process(next(b for b in pushed if b'Value="true"' in b))
            assert parsed is not None and any(
                m.Topic._value_1 == "tns1:VideoSource/MotionAlarm" for m in parsed.NotificationMessage
            )
            renewed = await manager._subscription.Renew("PT120S")
            assert renewed.TerminationTime > renewed.CurrentTime + dt.timedelta(seconds=100)
            await manager._subscription.Unsubscribe()
            with pytest.raises(zeep.exceptions.Fault, match="no such subscription"):
                await pull.PullMessages({"MessageLimit": 1, "Timeout": dt.timedelta(seconds=1)})
            await notifications.shutdown()
            assert not lost
        finally:
            await cam.close()


async def test_credentials_are_camcasts_accounts_and_cannot_be_replayed(camera: tuple[Server, int]) -> None:
    """Only GetSystemDateAndTime and where the services are answer without signing in; a wrong password,
    a replayed UsernameToken, one from a clock 10 minutes off, a digest for an account not made for
    ONVIF, and a viewer asking for the accounts are refused with ter:NotAuthorized; HTTP Digest (RFC
    7616, aiohttp's client) signs in; the accounts are listed by name and level, never a secret."""
    server, _ = camera
    url = server.url + "/onvif/device_service"
    info = "<GetDeviceInformation xmlns='http://www.onvif.org/ver10/device/wsdl'/>"
    status, text, headers = await post(url, envelope(info))
    assert status == 401 and headers["WWW-Authenticate"].startswith("Digest ") and "ter:NotAuthorized" in text
    status, text, _ = await post(
        url, envelope("<GetSystemDateAndTime xmlns='http://www.onvif.org/ver10/device/wsdl'/>")
    )
    assert status == 200 and "UTCDateTime" in text
    good = username_token(*NVR)
    status, text, _ = await post(url, envelope(info, good))
    assert status == 200 and "<tds:Manufacturer>camcast</tds:Manufacturer>" in text
    status, text, _ = await post(url, envelope(info, good))  # the same nonce again: a replay
    assert status == 400 and "ter:NotAuthorized" in fault_codes(text)
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status, text, _ = await post(url, envelope(info, username_token(*NVR, created=old)))
    assert status == 400 and "clock" in text
    for name, password in ((NVR[0], "wrong-password-9"), PLAIN):
        status, text, _ = await post(url, envelope(info, username_token(name, password)))
        assert status == 400 and "ter:NotAuthorized" in fault_codes(text), (name, text)
    users = "<GetUsers xmlns='http://www.onvif.org/ver10/device/wsdl'/>"
    status, text, _ = await post(url, envelope(users, username_token(*NVR)))
    assert status == 403 and "ter:NotAuthorized" in fault_codes(text)
    soap = {"Content-Type": "application/soap+xml"}
    async with (
        aiohttp.ClientSession(middlewares=(aiohttp.DigestAuthMiddleware(*OWNER),)) as http,
        http.post(url, data=envelope(users), headers=soap) as resp,
    ):
        listed = await resp.text()
        assert resp.status == 200, listed
    assert {"nvr", "olive", "victor"} <= set(re.findall(r"<tt:Username>([^<]+)</tt:Username>", listed))
    assert "Administrator" in listed and "password" not in listed.lower()
    async with (
        aiohttp.ClientSession(
            middlewares=(aiohttp.DigestAuthMiddleware(NVR[0], "wrong-password-9"),)
        ) as http,
        http.post(url, data=envelope(info), headers={"Content-Type": "application/soap+xml"}) as resp,
    ):
        assert resp.status == 401


async def test_removing_the_account_ends_what_it_has_open_at_once(
    camera: tuple[Server, int], home: Path
) -> None:
    """An NVR's account removed with `camcast users remove` while the NVR waits on PullMessages and
    plays the stream URI it was given: the pull ends, FFmpeg's stream ends, the URI opens nothing any
    more, and the account's digests are refused."""
    server, _ = camera
    cam = client(server, GONE)
    try:
        await cam.update_xaddrs()
        manager = await cam.create_pullpoint_manager(dt.timedelta(seconds=60), lambda: None)
        pull = manager.get_service()
        await pull.PullMessages({"MessageLimit": 10, "Timeout": dt.timedelta(seconds=1)})  # the states now
        media = await cam.create_media_service()
        uri = (await media.GetStreamUri({"ProfileToken": "main", "StreamSetup": {
            "Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}})).Uri  # fmt: skip
        player = await asyncio.create_subprocess_exec(
            "ffmpeg", "-v", "error", "-rtsp_transport", "tcp", "-i", uri, "-t", "60", "-f", "null", "-",
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip

        async def pulling() -> BaseException:
            """Pull as an NVR does, one long poll after another (the crossing's events come back
            between them), until a pull fails: what failed it."""
            while True:
                try:
                    await pull.PullMessages({"MessageLimit": 10, "Timeout": dt.timedelta(seconds=50)})
                except (zeep.exceptions.Fault, aiohttp.ClientError) as failed:
                    return failed

        waiting = asyncio.create_task(pulling())
        try:

            async def playing() -> bool:
                async with aiohttp.ClientSession() as http:
                    owner = {"Authorization": "Basic " + base64.b64encode(":".join(OWNER).encode()).decode()}
                    async with http.get(server.url + "/api/viewers", headers=owner) as resp:
                        watching = (await resp.json())["watching"]
                return any(v["who"] == GONE[0] and v["via"] == "device" for v in watching)

            await until(playing, seconds=20)
            removed = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-m", "camcast", "users", "remove", GONE[0]],
                env={**os.environ, **home_env(home)}, capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            assert removed.returncode == 0, removed.stderr
            began = time.monotonic()
            failed = await asyncio.wait_for(waiting, 10)
            # The pull waiting is cut (the library tries it once more: refused, the account is gone),
            # or the subscription's end answers it.
            said = str(failed)
            assert isinstance(failed, aiohttp.ClientError) or "ended" in said or "wrong name" in said, failed
            await asyncio.wait_for(player.wait(), 10)  # ended by the server, long before its own 60 s
            print(f"removal to the pull and the stream ended: {(time.monotonic() - began) * 1000:.0f} ms")
            assert time.monotonic() - began < 5
        finally:
            waiting.cancel()
            if player.returncode is None:
                player.kill()
                await player.wait()
        probe = await asyncio.to_thread(
            subprocess.run, ["ffprobe", "-v", "error", "-rtsp_transport", "tcp", uri],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert probe.returncode != 0 and "401" in probe.stderr
        status, text, _ = await post(server.url + "/onvif/device_service",
                                     envelope(f"<GetDeviceInformation xmlns='{DEVICE}'/>",
                                              username_token(*GONE)))  # fmt: skip
        assert status == 400 and "ter:NotAuthorized" in fault_codes(text)
    finally:
        await cam.close()


def test_subscriptions_are_bounded_and_end_unless_renewed() -> None:
    """At most MAX_SUBSCRIPTIONS a camera (the next is the standard's SubscribeCreationFailedFault);
    each ends at its termination time, its waiting pull told so."""
    from camcast.onvif import events as tev
    from camcast.onvif.soap import NS, Fault, parse

    device = type(
        "D", (), {"camera": "door", "xaddr": lambda self, s: f"http://cam/onvif/{s}", "audio": False}
    )()
    request = parse(envelope(f"<CreatePullPointSubscription xmlns='{NS['tev']}'>"
                             "<InitialTerminationTime>PT10S</InitialTerminationTime>"
                             "</CreatePullPointSubscription>"))  # fmt: skip
    hub = tev.Events()
    made = [tev.new_subscription(device, "nvr", request) for _ in range(tev.MAX_SUBSCRIPTIONS + 1)]  # type: ignore[arg-type]
    for sub in made[:-1]:
        hub.add(sub, audio=False)
    with pytest.raises(Fault, match="at most"):
        hub.add(made[-1], audio=False)
    assert all(len(sub.messages) == 2 for sub in made[:-1])  # each topic's state, Initialized
    hub.sweep(time.time() + 5)
    assert len(hub.subscriptions) == tev.MAX_SUBSCRIPTIONS
    hub.sweep(time.time() + 11)
    assert not hub.subscriptions and all(sub.ended == "not renewed" for sub in made[:-1])


async def test_hostile_soap_gets_faults_and_the_camera_goes_on(camera: tuple[Server, int]) -> None:
    """Not XML, a DTD's entities (expansion and an external file), a body over 64 kB, SOAP 1.1, an
    unknown action and calls that would change the computer or the encoder: each its SOAP fault and
    status, and the next request is answered as before."""
    server, _ = camera
    url = server.url + "/onvif/device_service"
    auth = username_token(*OWNER)
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><x>&b;</x></s:Body></s:Envelope>'
    )
    external = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><x>&e;</x></s:Body></s:Envelope>'
    )
    soap11 = (
        '<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body>'
        f'<GetDeviceInformation xmlns="{DEVICE}"/></e:Body></e:Envelope>'
    )
    cases = [
        (b"<not xml", 400, "ter:WellFormed"),
        (bomb.encode(), 400, "ter:WellFormed"),
        (external.encode(), 400, "ter:WellFormed"),
        (envelope("<x>" + "a" * 70_000 + "</x>"), 413, "ter:InvalidArgVal"),
        (soap11.encode(), 400, "s:VersionMismatch"),
        (envelope(f"<FlyToTheMoon xmlns='{DEVICE}'/>", auth), 500, "ter:ActionNotSupported"),
        (envelope(f"<SystemReboot xmlns='{DEVICE}'/>", username_token(*OWNER)), 500,
         "ter:ActionNotSupported"),
        (envelope(f"<SetHostname xmlns='{DEVICE}'><Name>x</Name></SetHostname>", username_token(*OWNER)), 500,
         "ter:ActionNotSupported"),
    ]  # fmt: skip
    for body, status, code in cases:
        got, text, _ = await post(url, body)
        assert got == status and code in fault_codes(text), (body[:80], got, text)
        assert "Traceback" not in text
    media = server.url + "/onvif/media_service"
    same = (f"<SetVideoEncoderConfiguration xmlns='{MEDIA}'><Configuration token='video_h264'>"
            "<Name xmlns='http://www.onvif.org/ver10/schema'>H.264</Name>"
            "<Encoding xmlns='http://www.onvif.org/ver10/schema'>H264</Encoding>"
            "<Resolution xmlns='http://www.onvif.org/ver10/schema'><Width>320</Width><Height>180</Height></Resolution>"
            "</Configuration><ForcePersistence>true</ForcePersistence>"
            "</SetVideoEncoderConfiguration>")  # fmt: skip
    got, text, _ = await post(media, envelope(same, username_token(*OWNER)))
    assert got == 200 and "SetVideoEncoderConfigurationResponse" in text
    got, text, _ = await post(media, envelope(same.replace("320", "1920"), username_token(*OWNER)))
    assert got == 400 and "ter:ConfigModify" in fault_codes(text) and "1920" in text
    got, text, _ = await post(
        url, envelope(f"<GetDeviceInformation xmlns='{DEVICE}'/>", username_token(*NVR))
    )
    assert got == 200
    assert server.proc.poll() is None and "Traceback" not in server.stderr_so_far()


@pytest.mark.parametrize("nvr", ["synology", "unifi"])
async def test_an_nvrs_adoption_replayed(camera: tuple[Server, int], nvr: str) -> None:
    """The requests Synology's Surveillance Station and UniFi Protect send while adopting a camera (from
    public captures: roleoroleo/onvif_simple_server#19, AlexxIT/go2rtc#1520 and #1994), replayed in
    order with this account's digests: each answered as those NVRs go on from (CreateProfile with the
    MaxNVTProfiles fault Synology then takes the profiles after; the encoder's RateControl with its
    rate, which UniFi's AI Port needs)."""
    server, _ = camera
    sequence = json.loads((FIXTURES / f"{nvr}.json").read_text())
    for step in sequence:
        header = username_token(*NVR) if step.get("signed", True) else ""
        status, text, _ = await post(server.url + step["path"], envelope(step["body"], header))
        assert status == step["status"], (step["body"][:60], text)
        for expected in step["expect"]:
            assert re.search(expected, text), (expected, text)


def test_settings_refuse_onvif_where_it_would_be_unsafe_or_useless(tmp_path: Path) -> None:
    """ONVIF without RTSP, discovery without ONVIF, discovery on loopback, ONVIF beyond this computer
    without accounts: each one line and exit 2, before anything is opened."""
    cases = [
        (("--onvif",), "--rtsp"),
        (("--onvif-discovery",), "--onvif"),
        (("--onvif", "--onvif-discovery", "--rtsp", "127.0.0.1:8554"), "listens on 127.0.0.1 only"),
        (("--listen", "0.0.0.0:8080", "--public", "--onvif", "--rtsp", "0.0.0.0:8554"), "no accounts"),
    ]
    for args, said in cases:
        result = run_cli("serve", "--source", "pattern", *args)
        assert result.returncode == 2 and said in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def _netns(name: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", name, *argv]


@pytest.fixture
def lan() -> Iterator[tuple[str, str]]:
    """Two network namespaces joined by a veth pair (10.231.N.1 the camera's, .2 the NVR's), with
    multicast routed on it: a LAN of two that no packet leaves."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2's ip")
    n = os.getpid() % 250
    cam, nvr = f"camcast-cam{n}", f"camcast-nvr{n}"
    steps = [
        ["ip", "netns", "add", cam], ["ip", "netns", "add", nvr],
        ["ip", "link", "add", f"vc{n}", "netns", cam, "type", "veth", "peer", "name", f"vn{n}", "netns", nvr],
        ["ip", "-n", cam, "addr", "add", f"10.231.{n}.1/24", "dev", f"vc{n}"],
        ["ip", "-n", nvr, "addr", "add", f"10.231.{n}.2/24", "dev", f"vn{n}"],
    ]  # fmt: skip
    for ns, dev in ((cam, f"vc{n}"), (nvr, f"vn{n}")):
        steps += [["ip", "-n", ns, "link", "set", dev, "up"], ["ip", "-n", ns, "link", "set", "lo", "up"],
                  ["ip", "-n", ns, "route", "add", "224.0.0.0/4", "dev", dev]]  # fmt: skip
    for ns in (cam, nvr):  # left by a run that was killed
        subprocess.run(["ip", "netns", "delete", ns], capture_output=True, check=False)
    try:
        for step in steps:
            made = subprocess.run(step, capture_output=True, text=True, check=False)
            if made.returncode != 0:
                pytest.skip(f"cannot make a network namespace here: {made.stderr.strip()}")
        yield cam, nvr
    finally:
        for ns in (cam, nvr):
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True, check=False)


PROBE = """
import json, sys, time
from wsdiscovery import QName
from wsdiscovery.discovery import ThreadedWSDiscovery
hellos, byes = [], []
wsd = ThreadedWSDiscovery()
wsd.setRemoteServiceHelloCallback(lambda s: hellos.append(s.getXAddrs()))
wsd.setRemoteServiceByeCallback(lambda epr: byes.append(str(epr)))
wsd.start()
print("listening", flush=True)
for line in sys.stdin:
    if line.strip() == "probe":
        nvt = QName("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter")
        found = wsd.searchServices(types=[nvt], timeout=2)
        found = [[s.getEPR(), s.getXAddrs(), [str(x) for x in s.getScopes()]] for s in found]
        print(json.dumps({"found": found,
                          "hellos": hellos}), flush=True)
    elif line.strip() == "byes":  # the camera has stopped: its Bye is on its way, if it said one
        deadline = time.monotonic() + 5
        while not byes and time.monotonic() < deadline:
            time.sleep(0.02)
        print(json.dumps({"byes": byes}), flush=True)
wsd.stop()
"""


def test_ws_discovery_finds_it_on_the_lan_and_hears_hello_and_bye(
    lan: tuple[str, str], tmp_path: Path
) -> None:
    """wsdiscovery, in the NVR's namespace, hears the camera's Hello when it starts, finds it by a Probe
    for NetworkVideoTransmitter (its XAddrs the address it is reached by, its scopes the name and
    hardware NVRs filter on) and hears its Bye when it stops."""
    cam_ns, nvr_ns = lan
    address = subprocess.run(["ip", "-n", cam_ns, "-4", "-o", "addr", "show"], capture_output=True, text=True,
                             check=True).stdout.split("inet ")[-1].split("/")[0]  # fmt: skip
    env = {**os.environ, **home_env(tmp_path)}
    Accounts(tmp_path / "config" / "camcast" / "users.json").add(*NVR, "viewer", onvif=True)
    tls = [
        sys.executable,
        "-m",
        "camcast",
        "tls",
        "self-signed",
        "--host",
        address,
        "--out",
        str(tmp_path / "tls"),
    ]
    made = subprocess.run(tls, env=env, capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stderr
    serve_args = (
        "serve", "--source", "pattern", "--size", "160x120", "--listen", f"{address}:8443",
        "--tls-cert", str(tmp_path / "tls" / "cert.pem"), "--tls-key", str(tmp_path / "tls" / "key.pem"),
        "--rtsp", f"{address}:8554", "--onvif", "--onvif-discovery", "--quiet",
    )  # fmt: skip
    with subprocess.Popen(_netns(nvr_ns, sys.executable, "-c", PROBE), stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as listener:  # fmt: skip
        assert listener.stdout is not None and listener.stdin is not None
        try:
            assert listener.stdout.readline().strip() == "listening"
            command = _netns(cam_ns, sys.executable, "-m", "camcast", *serve_args)
            with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True) as serve:  # fmt: skip
                try:
                    assert serve.stdout is not None
                    for line in serve.stdout:  # the banner's last line comes once every door is open
                        if "who may watch" in line:
                            break
                    listener.stdin.write("probe\n")
                    listener.stdin.flush()
                    seen = json.loads(listener.stdout.readline())
                finally:
                    serve.terminate()
                    serve.wait(15)
            listener.stdin.write("byes\n")
            listener.stdin.flush()
            byes = json.loads(listener.stdout.readline())["byes"]
        finally:
            listener.stdin.close()
            listener.wait(10)
    xaddrs = f"https://{address}:8443/cam/camera/onvif/device_service"
    ((endpoint, found_xaddrs, scopes),) = seen["found"]
    assert found_xaddrs == [xaddrs] and endpoint.startswith("urn:uuid:")
    assert (
        "onvif://www.onvif.org/name/camera" in scopes and "onvif://www.onvif.org/hardware/camcast" in scopes
    )
    assert [xaddrs] in seen["hellos"]
    assert byes == [endpoint]


_xmlish = st.lists(
    st.sampled_from(["<", ">", "/", "s:Envelope", "s:Body", "s:Header",
                     'xmlns:s="http://www.w3.org/2003/05/soap-envelope"',
                     "<!DOCTYPE x [", "<!ENTITY a 'b'>", "]>", "&a;", "GetProfiles", "wsse:UsernameToken",
                     " ", "\"", "="]),
    max_size=40,
).map("".join)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=600), _xmlish.map(str.encode)))
def test_any_body_is_a_request_or_a_fault_and_any_datagram_a_probe_or_nothing(data: bytes) -> None:
    """Whatever bytes come, the SOAP reader gives a request or the standard fault, and discovery's reader
    a probe, nothing, or ValueError (the datagram is dropped): never another exception."""
    from camcast.onvif import discovery, operations, soap

    try:
        operations.lookup(soap.parse(data))
    except soap.Fault as fault:
        assert (fault.status in (400, 500) and fault.subcodes) or fault.code == "VersionMismatch"
    with contextlib.suppress(ValueError):
        discovery.parse_probe(data)


def test_discovery_answers_the_probes_and_resolves_meant_for_it() -> None:
    """A Probe is answered when every type asked is the camera's (by namespace, or by name alone) and
    every scope matches one of its by RFC 3986's path segments or strcmp0; a Resolve by its endpoint;
    an unknown matching rule matches nothing."""
    from camcast.onvif.discovery import RFC3986, STRCMP, Announced, Probe, matches, parse_probe

    camera = Announced("urn:uuid:1", ("onvif://www.onvif.org/name/door", "onvif://www.onvif.org/type/video_encoder"),
                       "/cam/door/onvif/device_service")  # fmt: skip
    nvt = ("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter")
    cases = [
        (Probe("m", "Probe", (nvt,), (), RFC3986, ""), True),
        (Probe("m", "Probe", (("", "Device"),), (), RFC3986, ""), True),
        (Probe("m", "Probe", (("urn:other", "Printer"),), (), RFC3986, ""), False),
        (Probe("m", "Probe", (), ("onvif://www.onvif.org/name",), RFC3986, ""), True),
        (Probe("m", "Probe", (), ("onvif://www.onvif.org/na",), RFC3986, ""), False),
        (Probe("m", "Probe", (), ("onvif://www.onvif.org/name/door",), STRCMP, ""), True),
        (Probe("m", "Probe", (), ("onvif://www.onvif.org/name",), STRCMP, ""), False),
        (Probe("m", "Probe", (), ("onvif://www.onvif.org/name",), "urn:unknown-rule", ""), False),
        (Probe("m", "Resolve", (), (), RFC3986, "urn:uuid:1"), True),
        (Probe("m", "Resolve", (), (), RFC3986, "urn:uuid:2"), False),
    ]
    for probe, expected in cases:
        assert matches(probe, camera) is expected, probe
    sent = (
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"'
        b' xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"'
        b' xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"'
        b' xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><s:Header><a:MessageID>uuid:7</a:MessageID>'
        b"</s:Header><s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body>"
        b"</s:Envelope>"
    )
    assert parse_probe(sent) == Probe("uuid:7", "Probe", (nvt,), (), RFC3986, "")
    # Answered from a LAN only, and a bounded number a second: never a reflector for spoofed probes.
    from camcast.onvif import discovery

    lan = ("10.1.2.3", "192.168.1.9", "fe80::1", "8.8.8.8", "2001:4860::1")
    assert [discovery._on_the_lan(a) for a in lan] == [True, True, True, False, False]
    answering = discovery.Discovery(lambda: [camera], "https", "10.0.0.1", 8443)
    assert sum(answering._may_answer() for _ in range(100)) == discovery.ANSWERS_PER_SECOND
