"""Checks of camcast against real V4L2 devices, run inside the virtual machine tests/test_v4l2.py boots.

The guest sees this machine's files read-only (the project's venv, ffmpeg, v4l2-ctl) and one writable
folder, given as the first argument: this script writes ``results.json`` there, one entry per check
(``ok``, and what was seen), rewritten after every check so a hang still leaves what was done. The
guest's console drops lines, so nothing is reported on it. Devices: vivid (a YUYV camera with
controls and a disconnect button), then v4l2loopback fed MJPEG by ffmpeg (a USB webcam's format).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

OUT = Path(sys.argv[1])
CAMCAST = [sys.executable, "-m", "camcast"]  # the servers
PORT = 8080
URL = f"http://127.0.0.1:{PORT}"
#: The emulated CPU is slow: a Python program takes seconds to start in it.
SLOW = 120.0
results: dict[str, dict[str, Any]] = {}


def record(name: str, ok: bool, **seen: Any) -> None:
    results[name] = {"ok": ok, **seen}
    (OUT / "results.tmp").write_text(json.dumps(results, indent=1))
    os.replace(OUT / "results.tmp", OUT / "results.json")


def check(name: str, fn: Callable[[], dict[str, Any]]) -> None:
    """Run one check: it returns what it saw and raises AssertionError (or anything) when it fails."""
    started = time.monotonic()
    try:
        seen = fn()
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        record(name, False, error=error, trace=traceback.format_exc()[-2000:], elapsed=elapsed(started))
    else:
        record(name, True, **seen, elapsed=elapsed(started))


def elapsed(since: float) -> float:
    return round(time.monotonic() - since, 1)


def run(*args: str, timeout: float = SLOW, check_rc: bool = False) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    if check_rc and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: exit {result.returncode}: {result.stderr.strip()[-500:]}")
    return result


def camcast(*args: str) -> subprocess.CompletedProcess[str]:
    """``camcast ARGS`` run in this process (``camcast.cli.main``, what the command runs): a Python
    program takes half a minute to start on the emulated CPU, so only the servers are processes."""
    from camcast.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's own errors
            code = exc.code if isinstance(exc.code, int) else 2
    return subprocess.CompletedProcess(["camcast", *args], code, out.getvalue(), err.getvalue())


def until(condition: Callable[[], object], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        try:
            value = condition()
        except Exception:  # not up yet
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")
        time.sleep(0.5)


def get(path: str, timeout: float = 30) -> bytes:
    with urllib.request.urlopen(URL + path, timeout=timeout) as resp:
        return resp.read()  # type: ignore[no-any-return]


def status() -> dict[str, Any]:
    return json.loads(get("/status.json"))  # type: ignore[no-any-return]


def get_ctrl(device: str, name: str) -> int:
    out = run("v4l2-ctl", "-d", device, f"--get-ctrl={name}", check_rc=True).stdout
    return int(out.split(":")[1])


def jpeg_size(data: bytes) -> tuple[int, int]:
    from camcast.picture.jpeg import decode_rgb

    rgb = decode_rgb(data)
    return rgb.shape[1], rgb.shape[0]


def mjpeg_parts(count: int, seconds: float) -> list[bytes]:
    """The first ``count`` pictures of the MJPEG stream."""
    parts: list[bytes] = []
    buffer = b""
    deadline = time.monotonic() + seconds
    with urllib.request.urlopen(URL + "/stream.mjpg", timeout=30) as resp:
        while len(parts) < count and time.monotonic() < deadline:
            buffer += resp.read1(65536)
            while (start := buffer.find(b"\xff\xd8")) >= 0 and (end := buffer.find(b"\xff\xd9", start)) >= 0:
                parts.append(buffer[start : end + 2])
                buffer = buffer[end + 2 :]
    assert len(parts) >= count, f"{len(parts)} pictures in {seconds:g} s"
    return parts[:count]


class Server:
    """``camcast serve`` in the guest, its log in the writable folder."""

    def __init__(self, name: str, *args: str) -> None:
        self.log = OUT / f"{name}.log"
        self.proc = subprocess.Popen(
            [*CAMCAST, "serve", "--listen", f"127.0.0.1:{PORT}", *args],
            stdout=subprocess.DEVNULL, stderr=self.log.open("w"),
        )  # fmt: skip
        try:
            # The emulated CPU is shared with the other test worker: a start can take minutes.
            until(lambda: get("/healthz", 5) == b"ok\n", 2 * SLOW, "camcast serve to answer")
        except BaseException:
            self.proc.kill()  # never left holding the port for the next server's checks to reach
            self.proc.wait()
            raise

    def text(self) -> str:
        return self.log.read_text()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def video_device(driver: str) -> str:
    """The /dev/videoN of ``driver`` (v4l2-ctl's card type), once it appears."""

    def find() -> str | None:
        for dev in sorted(Path("/dev").glob("video*")):
            info = run("v4l2-ctl", "-d", str(dev), "--info").stdout
            if driver in info:
                return str(dev)
        return None

    return until(find, 30, f"a {driver} device")  # type: ignore[no-any-return]


# --- ALSA: a loopback sound card's microphones --------------------------------------------------------
def sound_files(pid: int) -> list[str]:
    """The sound devices process ``pid`` has open."""
    found = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            if (target := os.readlink(fd)).startswith("/dev/snd/"):
                found.append(target)
    return sorted(found)


#: Talk back's speaker: the loopback card's playback side, its second subdevice (the first carries the
#: tone the microphone checks capture), heard by arecord on the capture side's second subdevice.
SPEAKER, SPEAKER_HEARD = "hw:CARD=Loopback,DEV=0,SUBDEV=1", "hw:CARD=Loopback,DEV=1,SUBDEV=1"


def talk_back(pid: int) -> dict[str, Any]:
    """Push-to-talk as the owner's page does it, over WebRTC (aiortc sending a 440 Hz tone of amplitude
    1/8, -21 dBFS, as the browser sends its microphone) to /api/talk: the server (``pid``) plays it on
    the loopback card, arecord records it on the other side at its level; the status says "talking"
    meanwhile, and once the talk ends (DELETE, the button let go) the speaker is closed."""
    import asyncio
    from fractions import Fraction

    import aiohttp
    import av
    import numpy as np
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import MediaStreamTrack

    from camcast.server.webrtc import ice

    class Tone(MediaStreamTrack):
        kind = "audio"

        def __init__(self) -> None:
            super().__init__()
            self.sent, self.began = 0, time.monotonic()

        async def recv(self) -> av.AudioFrame:
            await asyncio.sleep(max(0.0, self.began + self.sent / 48_000 - time.monotonic()))
            t = (self.sent + np.arange(960)) / 48_000
            wave = (np.sin(2 * np.pi * 440 * t) * 32767 / 8).astype(np.int16)
            # In stereo, as aiortc's Opus encoder takes it: mono would be upmixed 3 dB down first.
            frame = av.AudioFrame.from_ndarray(
                np.repeat(wave, 2).reshape(1, -1), format="s16", layout="stereo"
            )
            frame.sample_rate, frame.pts, frame.time_base = 48_000, self.sent, Fraction(1, 48_000)
            self.sent += 960
            return frame

    recorded = OUT / "talk-back.wav"

    def speaker_open() -> list[str]:
        return [f for f in sound_files(pid) if f.endswith("D0p")]

    began = time.monotonic()
    phases: dict[str, float] = {}  # seconds from the start to each step, to see where the time goes

    def reached(step: str) -> None:
        phases[step] = elapsed(began)

    async def talk() -> dict[str, Any]:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTrack(Tone())
        with ice.gathering_on(("127.0.0.1",)):
            await pc.setLocalDescription(await pc.createOffer())
        async with aiohttp.ClientSession() as session:
            sdp = {"Content-Type": "application/sdp"}
            async with session.post(URL + "/api/talk", data=pc.localDescription.sdp, headers=sdp) as resp:
                assert resp.status == 201, await resp.text()
                answer, ended = await resp.text(), resp.headers["Location"]
            await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            reached("answered")
            # Waited for in threads: the event loop goes on sending the voice meanwhile.
            talking = await asyncio.to_thread(until, lambda: status()["talking"], SLOW, "talking")
            opened = await asyncio.to_thread(until, speaker_open, SLOW, "the speaker opened by the voice")
            reached("speaker opened")
            # The loopback card's other side takes the rate and format the speaker opened it with.
            capture = ["-D", SPEAKER_HEARD, "-f", "S16_LE", "-r", "48000", "-c", "1", "-d", "3"]
            heard = await asyncio.create_subprocess_exec("arecord", "-q", *capture, str(recorded))
            await asyncio.wait_for(heard.wait(), 30)
            reached("heard")
            async with session.delete(URL + ended) as resp:
                assert resp.status == 200, await resp.text()
        await pc.close()
        reached("ended")
        await asyncio.to_thread(until, lambda: not status()["talking"], 30, "the talk to end")
        gone = await asyncio.to_thread(until, lambda: not speaker_open() and "closed", 30, "the speaker shut")
        reached("speaker closed")
        return {"talking": talking, "opened": opened, "closed": gone, "phases": phases}

    seen = asyncio.run(talk())
    samples = np.frombuffer(recorded.read_bytes()[44:], np.int16).astype(np.float64)
    loudest = max(
        float(np.sqrt(np.mean(np.square(samples[i : i + 4800])))) for i in range(0, len(samples) - 4800, 4800)
    )
    return {**seen, "level": round(20 * np.log10(max(loudest, 1.0) / 32768), 1)}


def alsa_checks() -> None:

    def sources() -> dict[str, Any]:
        result = until(lambda: (r := camcast("sources")).returncode == 0 and "Loopback" in r.stdout and r,
                       SLOW, "the loopback card in camcast sources")  # fmt: skip
        return {"stdout": result.stdout[-2000:]}

    check("alsa_sources", sources)

    # Small and slow: the sound is what is checked, and the emulated CPU shared with the other test
    # worker fell to no picture a second for 40 s at 320x240@5 (an HLS segment took 50 s).
    small = ("--source", "pattern", "--size", "160x120", "--fps", "2")

    def auto_refused() -> dict[str, Any]:
        result = camcast("serve", *small, "--audio", "auto", "--listen", f"127.0.0.1:{PORT}")
        assert result.returncode == 2 and "has no microphone of its own" in result.stderr, result.stderr
        return {"stderr": result.stderr.strip()}

    check("alsa_auto_refused", auto_refused)

    # A sine (FFmpeg's, amplitude 1/8: -21 dBFS RMS) played into the loopback card reaches its capture side.
    tone = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
         "-ac", "1", "-f", "alsa", "hw:CARD=Loopback,DEV=0"],
        stdout=subprocess.DEVNULL, stderr=(OUT / "alsa-tone.log").open("w"),
    )  # fmt: skip
    try:
        server = Server("alsa-on", *small, "--audio", "hw:CARD=Loopback,DEV=1")
        try:

            def level() -> dict[str, Any]:
                doc = until(lambda: (d := status())["microphone"] == "on" and d["audio_level_dbfs"] and d,
                            SLOW, "the microphone's level")  # fmt: skip
                opened = sound_files(server.proc.pid)
                assert any(f.endswith("D1c") for f in opened), opened
                return {"level": doc["audio_level_dbfs"], "open": opened}

            check("alsa_level", level)

            def shutter() -> dict[str, Any]:
                listen = ("--listen", f"127.0.0.1:{PORT}")
                assert camcast("pause", *listen).returncode == 0
                until(lambda: status()["microphone"] == "silenced", 30, "the microphone to close")
                closed = until(lambda: not sound_files(server.proc.pid) and "closed", 30, "the device closed")
                assert camcast("resume", *listen).returncode == 0
                until(lambda: status()["microphone"] == "on", 60, "the microphone to open again")
                return {"closed": closed, "open_again": sound_files(server.proc.pid)}

            check("alsa_shutter", shutter)

            def carried() -> dict[str, Any]:
                """The microphone's sound in the server's HLS (AAC), at the level it was played at: the
                second finished segment (the first may start before the sound does) fetched as a player
                does, and measured. Not a live read by ffmpeg: on the emulated CPU the server can fall
                behind real time, and ffmpeg's wait has no bound (it hung a CI run)."""

                def finished() -> tuple[str, list[str]] | None:  # a 503 until the first segment is made
                    with contextlib.suppress(urllib.error.HTTPError):
                        init, pairs = None, []
                        for line in get("/hls/index.m3u8", timeout=SLOW).decode().splitlines():
                            if line.startswith("#EXT-X-MAP:URI="):
                                init = line.split('"')[1]
                            elif line and not line.startswith("#"):
                                pairs.append((init, line))
                        same = [seg for seg_init, seg in pairs if seg_init == init]
                        if init and len(same) >= 2:
                            return init, same[-1:]
                    return None

                init, segments = until(finished, 2 * SLOW, "two finished HLS segments")
                clip = OUT / "alsa-carried.mp4"
                clip.write_bytes(b"".join(get(f"/hls/{name}", timeout=SLOW) for name in [init, *segments]))
                result = run("ffmpeg", "-v", "info", "-i", str(clip), "-vn", "-af", "volumedetect",
                             "-f", "null", "-")  # fmt: skip
                mean = [line for line in result.stderr.splitlines() if "mean_volume" in line]
                assert mean, result.stderr[-2000:]
                volume = float(mean[-1].split("mean_volume:")[1].split()[0])
                return {"mean_volume": volume, "segments": segments}

            check("alsa_carried", carried)

            def unplugged() -> dict[str, Any]:
                """The card taken away (its driver unbound, as a USB microphone pulled out) while it
                captures: the microphone is unavailable and the pictures go on; bound again, it is
                captured again by itself."""
                driver = Path("/sys/bus/platform/drivers/snd_aloop")
                device = next(p.name for p in driver.iterdir() if p.name.startswith("snd_aloop."))
                (driver / "unbind").write_text(device)
                try:
                    until(lambda: status()["microphone"] == "unavailable", 30, "the microphone to be missed")
                    live = status()["state"]
                    failing = [p for p in status()["failing"] if "microphone" in p]
                finally:
                    (driver / "bind").write_text(device)
                until(lambda: status()["microphone"] == "on", 60, "the microphone back")
                return {"live": live, "failing": failing}

            check("alsa_unplugged", unplugged)
        finally:
            code = server.stop()
            record("alsa_server_log", "Traceback" not in server.text(), exit=code, log=server.text()[-4000:])
    finally:
        tone.terminate()
        tone.wait(10)


# --- vivid: a YUYV camera with controls -----------------------------------------------------------------
def vivid_checks() -> None:
    run("modprobe", "vivid", "n_devs=1", "node_types=0x1", check_rc=True)
    device = video_device("vivid")

    def sources() -> dict[str, Any]:
        result = camcast("sources")
        assert result.returncode == 0, result.stderr
        assert device in result.stdout and re.search(r"YUYV 640x360", result.stdout), result.stdout
        return {"stdout": result.stdout[:3000]}

    check("vivid_sources", sources)

    def snapshot() -> dict[str, Any]:
        out = OUT / "vivid-snapshot.jpg"
        result = camcast("snapshot", "--source", device, "--size", "640x360", str(out))
        assert result.returncode == 0, result.stderr
        return {"size": jpeg_size(out.read_bytes())}

    check("vivid_snapshot_cli", snapshot)

    config = OUT / "vivid.toml"
    # A speaker for talk back (audio_out): nothing is opened until someone talks.
    speaker = f'audio_out = "{SPEAKER}"\n'
    config.write_text(f'size = "640x360"\nfps = 15\n{speaker}\n[controls]\nbrightness = 100\n')
    try:
        vivid_server(device, config)
    finally:
        run("rmmod", "vivid")


def vivid_server(device: str, config: Path) -> None:
    server = Server("vivid-serve", "--config", str(config))  # no --source: the camera found
    try:
        check("vivid_serve_found", lambda: {"source": status()["source"], "state": status()["state"]})

        def no_microphone() -> dict[str, Any]:
            """Audio off (the default), with a sound card there (the loopback's): none is opened (nor the
            speaker, audio_out, until someone talks)."""
            opened = sound_files(server.proc.pid)
            assert opened == [] and status()["microphone"] == "off", (opened, status()["microphone"])
            return {"open": opened}

        check("alsa_off_by_default", no_microphone)
        check("vivid_snapshot", lambda: {"size": jpeg_size(get("/snapshot.jpg"))})
        check("vivid_mjpeg", lambda: {"sizes": sorted({jpeg_size(p) for p in mjpeg_parts(10, 60)})})

        def settings_offers() -> dict[str, Any]:
            page = get("/settings").decode()  # no accounts, loopback: this computer's user is the owner
            offered = re.findall(r'<option value="([^"]*)">', page)
            return {"source": device in offered, "size": "640x360" in offered, "fps": "15" in offered}

        check("vivid_settings_offers", settings_offers)

        def hls() -> dict[str, Any]:
            result = run(
                "ffprobe", "-v", "error", "-show_entries", "stream=codec_name,width,height", "-of", "json",
                URL + "/hls/index.m3u8",
            )  # fmt: skip
            assert result.returncode == 0, result.stderr
            return {"streams": json.loads(result.stdout)["streams"]}

        check("vivid_hls", hls)
        check("vivid_webrtc", webrtc_frames)
        # On this server, which has no microphone: the emulated CPU, busy with the ALSA server's sound,
        # took 26 s to answer the talk's offer there (the server ends a talk not connected in 20 s).
        check("alsa_talk_back", lambda: talk_back(server.proc.pid))
        check("vivid_controls_config", lambda: {"brightness": get_ctrl(device, "brightness")})

        def controls_list() -> dict[str, Any]:
            result = camcast("controls", "--listen", f"127.0.0.1:{PORT}")
            assert result.returncode == 0, result.stderr
            return {"stdout": result.stdout[:4000]}

        check("vivid_controls_list", controls_list)

        def controls_set() -> dict[str, Any]:
            result = camcast(
                "controls", "set", "brightness=200", "contrast=90", "--listen", f"127.0.0.1:{PORT}"
            )
            assert result.returncode == 0, result.stderr
            return {"brightness": get_ctrl(device, "brightness"), "contrast": get_ctrl(device, "contrast")}

        check("vivid_controls_set", controls_set)

        def controls_bad() -> dict[str, Any]:
            seen = {}
            for name, args in (("range", ["brightness=999"]), ("unknown", ["nosuch=1"])):
                result = camcast("controls", "set", *args, "--listen", f"127.0.0.1:{PORT}")
                seen[name] = {"code": result.returncode, "stderr": result.stderr}
            seen["brightness"] = get_ctrl(device, "brightness")
            return seen

        check("vivid_controls_bad", controls_bad)

        def reload() -> dict[str, Any]:
            config.write_text('size = "640x360"\nfps = 15\n\n[controls]\nbrightness = 50\n')
            server.proc.send_signal(signal.SIGHUP)
            return {
                "brightness": until(lambda: get_ctrl(device, "brightness") == 50 and 50, 60, "brightness 50")
            }

        check("vivid_reload", reload)

        def settings_controls() -> dict[str, Any]:
            """The settings page shows the controls; a saved one reaches the device and the file."""
            import http.cookiejar

            opener = urllib.request.build_opener(
                urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
            )
            with opener.open(URL + "/settings", timeout=SLOW) as resp:
                page = resp.read().decode()
            shown = re.search(r'<input type="range"[^>]*id="c-camera-controls-brightness"[^>]*>', page)
            token = re.search(r'name="csrf-token" content="([^"]+)"', page)
            assert shown is not None and token is not None, page[:2000]
            seen: dict[str, Any] = {"shown": 'value="50"' in shown[0]}
            for value in (70, 50):  # and back, for the checks after this one
                body = json.dumps(
                    {"camera": "camera", "values": {"controls.brightness": str(value)}}
                ).encode()
                request = urllib.request.Request(
                    URL + "/api/settings", data=body, method="POST",
                    headers={"Content-Type": "application/json", "X-CSRF-Token": token[1]},
                )  # fmt: skip
                with opener.open(request, timeout=SLOW) as resp:
                    assert resp.status == 200
                seen[f"device_{value}"] = get_ctrl(device, "brightness")
                seen[f"file_{value}"] = f"brightness = {value}" in config.read_text()
            return seen

        check("vivid_settings_controls", settings_controls)

        def shutter() -> dict[str, Any]:
            """The shutter closes the device; a value changed meanwhile is set back when it opens."""
            listen = ("--listen", f"127.0.0.1:{PORT}")
            assert camcast("pause", *listen).returncode == 0
            until(lambda: status()["state"] == "paused", 30, "the paused state")
            run("v4l2-ctl", "-d", device, "-c", "brightness=10", check_rc=True)
            assert camcast("resume", *listen).returncode == 0
            until(lambda: status()["state"] == "live", 60, "the camera to open again")
            return {
                "brightness": until(lambda: get_ctrl(device, "brightness") == 50 and 50, 60, "brightness 50")
            }

        check("vivid_shutter", shutter)

        def unplug() -> dict[str, Any]:
            run("v4l2-ctl", "-d", device, "-c", "disconnect=1")
            until(lambda: status()["state"] == "offline", 60, "the offline state")
            offline_card = jpeg_size(get("/snapshot.jpg"))
            # Plugged in again: the module reloaded (once the camera's file is closed, it can go).
            until(lambda: run("rmmod", "vivid").returncode == 0, 60, "vivid to unload")
            run("modprobe", "vivid", "n_devs=1", "node_types=0x1", check_rc=True)
            again = video_device("vivid")
            until(lambda: status()["state"] == "live", 120, "the camera to come back")
            log = server.text()
            brightness = until(lambda: get_ctrl(again, "brightness") == 50 and 50, 60, "brightness again")
            return {
                "device_again": again, "offline_card": offline_card,
                "lost_lines": [line for line in log.splitlines() if " lost " in line],
                "back_lines": [line for line in log.splitlines() if "is back" in line],
                "brightness": brightness,
                "contrast": get_ctrl(again, "contrast"),
                "snapshot": jpeg_size(get("/snapshot.jpg")),
            }  # fmt: skip

        check("vivid_unplug", unplug)
    finally:
        code = server.stop()
        record("vivid_server_log", "Traceback" not in server.text(), exit=code, log=server.text()[-4000:])


def webrtc_frames() -> dict[str, Any]:
    """A WHEP client (aiortc) receives the camera's video."""
    import asyncio

    import aiohttp
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    from camcast.server.webrtc import ice

    async def receive() -> dict[str, Any]:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver("video", direction="recvonly")
        tracks: asyncio.Queue[Any] = asyncio.Queue()
        pc.on("track", tracks.put_nowait)
        with ice.gathering_on(("127.0.0.1",)):
            await pc.setLocalDescription(await pc.createOffer())
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                URL + "/whep", data=pc.localDescription.sdp, headers={"Content-Type": "application/sdp"}
            ) as resp,
        ):
            assert resp.status == 201, await resp.text()
            await pc.setRemoteDescription(RTCSessionDescription(await resp.text(), "answer"))
        track = await asyncio.wait_for(tracks.get(), 60)
        sizes = set()
        for _ in range(5):
            frame = await asyncio.wait_for(track.recv(), 60)
            sizes.add((frame.width, frame.height))
        await pc.close()
        return {"sizes": sorted(sizes)}

    return asyncio.run(receive())


# --- a camera plugged in after camcast started (a USB camera enumerating late at boot) ----------------------
def late_camera_checks() -> None:
    config = OUT / "late.toml"
    # Two cameras (vivid's two devices): the second, small and slow, is there for the reload below.
    cameras = (
        '[cameras.door]\nsource = "/dev/video0"\nsize = "640x360"\nfps = 15\n'
        '[cameras.yard]\nsource = "/dev/video1"\nsize = "320x180"\nfps = 5\n'
    )
    config.write_text(cameras + "[cameras.door.controls]\nbrightness = 77\n")
    server = Server("late-serve", "--config", str(config))
    try:

        def joins() -> dict[str, Any]:
            offline = status()["state"]
            run("modprobe", "vivid", "n_devs=2", "node_types=0x1,0x1", check_rc=True)
            device = video_device("vivid")
            until(lambda: status()["state"] == "live", 120, "the camera to join")
            brightness = until(lambda: get_ctrl(device, "brightness") == 77 and 77, 60, "brightness 77")
            warnings = [line for line in server.text().splitlines() if "[cameras.door]" in line]
            return {
                "before": offline, "brightness": brightness, "warnings": warnings,
                "size": jpeg_size(get("/snapshot.jpg")),
            }  # fmt: skip

        check("late_camera", joins)

        def reload_refused() -> dict[str, Any]:
            """The door's new brightness is set, then the yard refuses its own (out of range): the
            door's is put back and its new name is not applied."""
            until(lambda: all(c["state"] == "live" for c in status()["cameras"]), 120, "both cameras live")
            config.write_text(
                cameras.replace("[cameras.yard]", 'camera_name = "Front door"\n[cameras.yard]')
                + "[cameras.door.controls]\nbrightness = 60\n[cameras.yard.controls]\nbrightness = 999\n"
            )
            server.proc.send_signal(signal.SIGHUP)
            until(lambda: "was not reloaded" in server.text(), 60, "the reload to be refused")
            doc = status()
            return {
                "door": get_ctrl("/dev/video0", "brightness"), "yard": get_ctrl("/dev/video1", "brightness"),
                "put_back": [line for line in server.text().splitlines() if "put back" in line],
                "titles": [c["title"] for c in doc["cameras"]], "refused": doc["config"]["refused"],
            }  # fmt: skip

        check("late_reload_refused", reload_refused)
    finally:
        server.stop()
        until(lambda: run("rmmod", "vivid").returncode == 0, 60, "vivid to unload")


# --- v4l2loopback: an MJPEG camera ----------------------------------------------------------------------
def loopback_checks() -> None:
    frames = OUT / "frames.mjpeg"  # made by the host: JPEGs as camcast passes them on
    hashes = set(json.loads((OUT / "frames.json").read_text()))
    loaded = run("modprobe", "v4l2loopback", "exclusive_caps=1", "card_label=camcast-loopback")
    record("loopback_module", loaded.returncode == 0, stderr=loaded.stderr)
    if loaded.returncode != 0:
        return
    device = video_device("camcast-loopback")
    writer = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-re", "-stream_loop", "-1", "-f", "mjpeg", "-framerate", "15",
         "-i", str(frames), "-c:v", "copy", "-f", "v4l2", device],
        stdout=subprocess.DEVNULL, stderr=(OUT / "loopback-writer.log").open("w"),
    )  # fmt: skip
    try:

        def sources() -> dict[str, Any]:
            result = until(
                lambda: (r := camcast("sources")).returncode == 0 and "MJPG" in r.stdout and r, 60, "MJPG"
            )
            return {"stdout": result.stdout[:2000]}

        check("loopback_sources", sources)
        server = Server("loopback-serve", "--source", device)
        try:

            def passthrough() -> dict[str, Any]:
                parts = mjpeg_parts(20, 60)
                snap = get("/snapshot.jpg")
                doc = status()
                unknown = [p for p in [*parts, snap] if hashlib.sha256(p).hexdigest() not in hashes]
                return {
                    "pictures": len(parts) + 1, "not_written": len(unknown),
                    "frames_encoded": doc["frames_encoded"], "source": doc["source"], "size": jpeg_size(snap),
                }  # fmt: skip

            check("loopback_passthrough", passthrough)

            def mask() -> dict[str, Any]:
                """A mask over the left half reloaded into the running server (its config file; the
                source is the flag's): every picture after it is masked, so no longer the camera's own."""
                from camcast.picture.jpeg import decode_rgb

                config = OUT / "config" / "camcast" / "camcast.toml"
                config.parent.mkdir(parents=True, exist_ok=True)
                config.write_text('mask = ["0,0,50%,100%"]\n')
                server.proc.send_signal(signal.SIGHUP)
                sent = time.monotonic()

                def masked() -> bool:
                    rgb = decode_rgb(mjpeg_parts(1, 30)[0])
                    return bool(rgb[:, :300].mean() < 20 and rgb[:, 340:].mean() > 40)

                until(masked, 60, "a masked picture")
                took = time.monotonic() - sent
                after = mjpeg_parts(5, 60)
                rgbs = [decode_rgb(p) for p in after]
                return {
                    "seconds": round(took, 2), "all_masked": all(r[:, :300].mean() < 20 for r in rgbs),
                    "written": sum(hashlib.sha256(p).hexdigest() in hashes for p in after),
                    "encoding": status()["encodes_per_second"] > 0,
                }  # fmt: skip

            check("loopback_mask", mask)
        finally:
            code = server.stop()
            record(
                "loopback_server_log", "Traceback" not in server.text(), exit=code, log=server.text()[-4000:]
            )
    finally:
        writer.terminate()
        writer.wait(30)


def main() -> None:
    os.environ["XDG_CONFIG_HOME"] = str(OUT / "config")
    # The control socket cannot live on the shared folder (9p has no Unix sockets): the guest's /tmp.
    os.environ["XDG_STATE_HOME"] = "/tmp/camcast-state"
    record("guest_started", True, kernel=os.uname().release)
    run("modprobe", "snd-aloop", check_rc=True)  # a sound card from the start: no server may open it unasked
    for section in (late_camera_checks, vivid_checks, loopback_checks, alsa_checks):
        try:
            section()
        except Exception as exc:
            record(
                section.__name__,
                False,
                error=f"{type(exc).__name__}: {exc}",
                trace=traceback.format_exc()[-2000:],
            )
    record("guest_done", True)


if __name__ == "__main__":
    main()
