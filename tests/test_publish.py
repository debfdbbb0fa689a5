"""Publishing to real servers: a local folder, pyftpdlib (FTP and FTPS), vsftpd, and OpenSSH (SFTP)."""

from __future__ import annotations

import asyncio
import contextlib
import ftplib
import io
import json
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from camcast.encode import jpeg
from camcast.picture.jpeg import decode_rgb
from camcast.publish.local import LocalStore
from camcast.publish.retention import Retention
from tests.conftest import camcast_cmd, finish_output, free_port, run_cli, web_site
from tests.peers import FTP_PASSWORD, FTP_USER, pyftpdlib_server, sshd_server, vsftpd_server
from tests.waiting import until

pytestmark = pytest.mark.timeout(120)

SOURCE = ("--source", "pattern", "--size", "320x240", "--fps", "10")
PAGES = ("index.html", "refresh.html", "script.html", "viewer.js", "viewer.css", "favicon.svg")


@pytest.fixture(autouse=True)
def upload_password(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The FTP password comes from the environment, as a user would give it; HOME is the test's own."""
    monkeypatch.setenv("CAMCAST_UPLOAD_PASSWORD", FTP_PASSWORD)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()


class Publishing:
    def __init__(self, proc: subprocess.Popen[str], out: object, err: object) -> None:
        self.proc, self._out, self._err = proc, out, err
        self.stdout = self.stderr = ""


@contextlib.asynccontextmanager
async def publishing(*args: str) -> AsyncIterator[Publishing]:
    """`camcast publish ARGS` as a process, stopped with SIGTERM at the end."""
    from tests.conftest import tempfile

    out = tempfile.TemporaryFile("w+")
    err = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(camcast_cmd("publish", "--quiet", *args), stdout=out, stderr=err, text=True)
    run = Publishing(proc, out, err)
    try:
        yield run
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(15)
        run.stdout, run.stderr = finish_output(out, err)  # type: ignore[arg-type]
        print(f"--- camcast publish {' '.join(args)}\n{run.stdout}{run.stderr}")


def captured(folder: Path) -> float:
    try:
        return float(json.loads((folder / "webcam.json").read_text())["captured"])
    except (OSError, ValueError, KeyError):
        return 0.0


def assert_published(folder: Path, pages: bool = True) -> None:
    data = (folder / "webcam.jpg").read_bytes()
    assert jpeg.is_complete(data) and decode_rgb(data).shape == (240, 320, 3)
    assert abs(captured(folder) - time.time()) < 30
    if pages:
        for page in PAGES:
            assert (folder / page).stat().st_size > 0, page
    assert not [p for p in folder.rglob(".camcast-*")], "temporary files left behind"


async def test_local_folder(tmp_path: Path) -> None:
    """A local folder receives the picture, its JSON sidecar and the pages; nothing temporary is left."""
    site = tmp_path / "site"
    async with publishing(*SOURCE, "--to", str(site), "--every", "0.5") as run:
        await until(lambda: captured(site) > 0)
        first = captured(site)
        await until(lambda: captured(site) > first)
        assert run.proc.poll() is None
    assert_published(site)


async def test_pyftpdlib_plain_ftp(tmp_path: Path) -> None:
    """Plain FTP (the server offers no TLS): pictures and pages arrive; one warning says it is in clear."""
    with pyftpdlib_server(tmp_path / "ftp") as ftp:
        async with publishing(*SOURCE, "--to", ftp.url + "cam/", "--every", "0.5") as run:
            await until(lambda: captured(ftp.root / "cam") > 0)
        assert_published(ftp.root / "cam")
    assert run.stderr.count("does not offer TLS") == 1
    assert FTP_PASSWORD not in run.stderr + run.stdout


@pytest.fixture
def tls_pair(tmp_path: Path) -> Path:
    out = tmp_path / "tls"
    result = run_cli("tls", "self-signed", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out / "cert.pem"


async def test_ftps_with_ca_file_and_with_pinned_fingerprint(tmp_path: Path, tls_pair: Path) -> None:
    """ftps:// verifies the certificate: against --ca-file, or by a pinned SHA-256 fingerprint."""
    fingerprint = (
        run_cli("tls", "self-signed", "--out", str(tls_pair.parent))
        .stdout.split("fingerprint ")[1]
        .split()[0]
    )
    with pyftpdlib_server(tmp_path / "ftps", tls_cert=tls_pair) as ftp:
        async with publishing(*SOURCE, "--to", ftp.url + "a/", "--every", "0.5", "--ca-file", str(tls_pair)):
            await until(lambda: captured(ftp.root / "a") > 0)
        assert_published(ftp.root / "a")
        async with publishing(
            *SOURCE, "--to", ftp.url + "b/", "--every", "0.5", "--fingerprint", fingerprint
        ):
            await until(lambda: captured(ftp.root / "b") > 0)
        assert_published(ftp.root / "b")
        untrusted = run_cli("publish", "--check", "--to", ftp.url)
        assert (
            untrusted.returncode == 2
            and "not trusted" in untrusted.stderr
            and "--fingerprint" in untrusted.stderr
        )
        wrong = run_cli("publish", "--check", "--to", ftp.url, "--fingerprint", "ab" * 32)
        assert wrong.returncode == 2 and "not the pinned one" in wrong.stderr


async def test_ftp_url_upgrades_to_tls_when_offered(tmp_path: Path, tls_pair: Path) -> None:
    """ftp:// uses explicit TLS when the server offers it (this one refuses anything else)."""
    with pyftpdlib_server(tmp_path / "ftps", tls_cert=tls_pair) as ftp:
        url = ftp.url.replace("ftps://", "ftp://")
        result = run_cli("publish", "--check", "--to", url, "--ca-file", str(tls_pair))
        assert result.returncode == 0, result.stderr
        assert "does not offer TLS" not in result.stderr


async def test_vsftpd(tmp_path: Path) -> None:
    """Debian's vsftpd (no MLSD; rename over an existing file) receives the pictures and pages."""
    with vsftpd_server(tmp_path) as ftp:
        check = run_cli("publish", "--check", "--to", ftp.url)
        assert check.returncode == 0, check.stderr
        async with publishing(*SOURCE, "--to", ftp.url, "--every", "0.5", "--archive", "--keep", "2") as run:
            await until(lambda: captured(ftp.root) > 0)
            first = captured(ftp.root)
            await until(lambda: captured(ftp.root) > first)
        assert_published(ftp.root)
        assert run.proc.returncode == 0


async def test_sftp_with_key_and_known_host(tmp_path: Path) -> None:
    """sftp:// with a key and a known host key publishes; an unknown host is refused with its fingerprint."""
    with sshd_server(tmp_path) as ssh:
        url = f"sftp://{ssh.user}@127.0.0.1:{ssh.port}{ssh.root}/site"
        unknown = run_cli("publish", "--check", "--to", url, "--identity", str(ssh.identity))
        assert unknown.returncode == 2
        assert "SHA256:" in unknown.stderr and "ssh-keyscan -p" in unknown.stderr
        known = tmp_path / "home" / ".ssh" / "known_hosts"
        known.parent.mkdir()
        known.write_text(ssh.host_key_line + "\n")
        async with publishing(*SOURCE, "--to", url, "--every", "0.5", "--identity", str(ssh.identity)):
            await until(lambda: captured(ssh.root / "site") > 0)
        assert_published(ssh.root / "site")
        other_key = tmp_path / "other"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other_key)], check=True)
        refused = run_cli("publish", "--check", "--to", url, "--identity", str(other_key))
        assert refused.returncode == 2 and "refused the SSH login" in refused.stderr


async def test_check_reports_and_startup_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--check writes, renames and deletes a file; a refused login, a missing permission or a folder
    that cannot be made is one line and exit 2, before anything is captured."""
    with pyftpdlib_server(tmp_path / "ftp") as ftp:
        ok = run_cli("publish", "--check", "--to", ftp.url + "x/")
        assert ok.returncode == 0 and "works: connect" in ok.stdout and "write+rename" in ok.stdout
        assert not (ftp.root / "x" / "camcast-check.txt").exists()
        monkeypatch.setenv("CAMCAST_UPLOAD_PASSWORD", "wrong")
        bad = run_cli("publish", *SOURCE, "--to", ftp.url)
        assert bad.returncode == 2 and "refused the login" in bad.stderr and "Traceback" not in bad.stderr
    with pyftpdlib_server(tmp_path / "ro", perm="elr") as ftp:
        monkeypatch.setenv("CAMCAST_UPLOAD_PASSWORD", FTP_PASSWORD)
        no_write = run_cli("publish", "--check", "--to", ftp.url)
        assert no_write.returncode == 2 and "refused" in no_write.stderr
        no_mkdir = run_cli("publish", "--check", "--to", ftp.url + "new/")
        assert no_mkdir.returncode == 2 and "cannot create the folder new" in no_mkdir.stderr
    for bad_url, message in (
        ("gopher://x/", "unsupported destination"),
        ("ftp://", "needs a host"),
        (f"ftp://127.0.0.1:{free_port()}/", "refused the connection"),
        ("ftp://no-such-host.invalid/", "unknown host"),
    ):
        result = run_cli("publish", "--check", "--to", bad_url)
        assert result.returncode == 2 and message in result.stderr, (bad_url, result.stderr)


async def test_password_from_netrc_and_url_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The password comes from ~/.netrc when not in the environment; one in the URL works but warns."""
    monkeypatch.delenv("CAMCAST_UPLOAD_PASSWORD")
    with pyftpdlib_server(tmp_path / "ftp") as ftp:
        netrc = tmp_path / "home" / ".netrc"
        netrc.write_text(f"machine 127.0.0.1 login {FTP_USER} password {FTP_PASSWORD}\n")
        netrc.chmod(0o600)
        assert run_cli("publish", "--check", "--to", f"ftp://127.0.0.1:{ftp.port}/").returncode == 0
        netrc.unlink()
        inline = run_cli(
            "publish", "--check", "--to", f"ftp://{FTP_USER}:{FTP_PASSWORD}@127.0.0.1:{ftp.port}/"
        )
        assert inline.returncode == 0 and "password is in the destination URL" in inline.stderr
        assert FTP_PASSWORD not in inline.stdout


def _read_over_ftp(port: int, name: str) -> bytes | None:
    try:
        with ftplib.FTP() as ftp:
            ftp.connect("127.0.0.1", port, timeout=5)
            ftp.login(FTP_USER, FTP_PASSWORD)
            buf = io.BytesIO()
            ftp.retrbinary(f"RETR {name}", buf.write)
            return buf.getvalue()
    except (OSError, EOFError, ftplib.Error):
        return None  # the server is down, or the file is not there yet


async def test_atomic_replace_under_concurrent_reads_and_server_restart(tmp_path: Path) -> None:
    """While publishing every 0.2 s a reader downloads webcam.jpg over and over: every download is a
    complete JPEG. The FTP server is then killed mid-run and restarted: still no partial picture, and
    publishing resumes on its own, saying once that the target went down and once that it is back."""
    root = tmp_path / "ftp"
    port = free_port()
    reads = bad = 0
    with pyftpdlib_server(root, port=port) as ftp:
        async with publishing(*SOURCE, "--to", ftp.url, "--every", "0.2") as run:
            await until(lambda: captured(root) > 0)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                data = await asyncio.to_thread(_read_over_ftp, port, "webcam.jpg")
                if data is not None:
                    reads += 1
                    bad += not jpeg.is_complete(data)
            ftp_down_at = time.monotonic()
            await asyncio.to_thread(ftp.stop_now)  # type: ignore[attr-defined]
            while time.monotonic() - ftp_down_at < 2:
                bad += not jpeg.is_complete((root / "webcam.jpg").read_bytes())
                await asyncio.sleep(0.05)
            before = captured(root)
            with pyftpdlib_server(root, port=port):
                await until(lambda: captured(root) > before, 20)
                data = await asyncio.to_thread(_read_over_ftp, port, "webcam.jpg")
                assert data is not None and jpeg.is_complete(data)
    assert reads >= 10 and bad == 0
    assert run.stderr.count("; retrying") == 1 and run.stderr.count("working again") == 1, run.stderr


async def test_retention_deletes_exactly_past_the_limits(tmp_path: Path) -> None:
    """keep-days and keep delete exactly the archived pictures past the limit; stale temporary files
    go; files that do not match the archive pattern are never touched."""
    site = tmp_path / "site"
    pattern = "archive/%Y/%m/%d/%H%M%S.jpg"
    now = time.mktime((2026, 11, 21, 12, 0, 0, 0, 0, -1))
    stamps = [now - days * 86400 for days in (0.1, 1.5, 2.5, 3.5, 10)]
    for stamp in stamps:
        path = site / time.strftime(pattern, time.localtime(stamp))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"jpeg")
    stray = site / "archive" / "notes.txt"
    stray.write_text("mine")
    temp = site / "archive" / "2026" / ".camcast-x.jpg.1234.tmp"
    temp.write_bytes(b"half")
    store = LocalStore(site)
    deleted = await Retention(store, pattern, 3.0, None).apply(now=now)
    assert sorted(deleted) == sorted(time.strftime(pattern, time.localtime(s)) for s in stamps[3:])
    assert stray.exists() and not temp.exists()
    deleted = await Retention(store, pattern, None, 2).apply(now=now)
    assert deleted == [time.strftime(pattern, time.localtime(stamps[2]))]
    left = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.jpg"))
    assert left == sorted(time.strftime(pattern, time.localtime(s)) for s in stamps[:2])


async def test_archive_and_keep_over_ftp(tmp_path: Path) -> None:
    """--archive --keep 3 over FTP keeps the newest three archived pictures on the host."""
    with pyftpdlib_server(tmp_path / "ftp") as ftp:

        def archived() -> list[str]:
            return sorted(p.relative_to(ftp.root).as_posix() for p in (ftp.root / "archive").rglob("*.jpg"))

        async with publishing(*SOURCE, "--to", ftp.url, "--every", "1", "--archive", "--keep", "3"):
            await until(lambda: len(archived()) >= 5, 20)
        before = archived()
        # retention runs at start and hourly; a second start applies it now
        async with publishing(*SOURCE, "--to", ftp.url, "--every", "60", "--archive", "--keep", "3"):
            await until(lambda: len(archived()) <= 4, 20)
        after = archived()
        # The newest three of the first run remain, with at most the new run's first picture beside them.
        assert set(before[-3:]) <= set(after), (before, after)
        assert len(set(after) - set(before)) <= 1 and len(after) <= 4, (before, after)


async def test_stale_temp_files_are_cleaned_at_start(tmp_path: Path) -> None:
    """Temporary files left by a crash are removed when publishing starts."""
    site = tmp_path / "site"
    (site / "stream").mkdir(parents=True)
    leftovers = [site / ".camcast-webcam.jpg.dead.tmp", site / "stream" / ".camcast-000.jpg.dead.tmp"]
    for path in leftovers:
        path.write_bytes(b"partial")
    async with publishing(*SOURCE, "--to", str(site), "--every", "1", "--stream-fps", "2"):
        await until(lambda: captured(site) > 0)
    assert not any(p.exists() for p in leftovers)


async def test_slow_target_skips_pictures_instead_of_queueing(tmp_path: Path) -> None:
    """When uploads cannot keep up, waiting pictures are replaced by newer ones (counted), not queued:
    the published picture stays recent."""
    from camcast.camera import Camera
    from camcast.config import CameraSettings
    from camcast.publish.publisher import Publisher, PublishOptions

    class SlowStore(LocalStore):
        async def put_atomic(self, path: str, data: bytes) -> None:
            await asyncio.sleep(0.5)  # a slow link: each file takes half a second
            await super().put_atomic(path, data)

    camera = Camera.open(CameraSettings(source="pattern", size=(160, 120), fps=20))
    pictures = camera.rendition("publish")
    publisher = Publisher(pictures, SlowStore(tmp_path), PublishOptions(every=0.1, pages=False))
    tasks = [asyncio.create_task(camera.run()), asyncio.create_task(publisher.run())]
    await until(lambda: publisher.stats.skipped >= 10 and publisher.stats.uploads >= 1, 10)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert publisher.stats.skipped >= 10
    assert 1 <= publisher.stats.uploads <= 4
    assert time.time() - captured(tmp_path) < 2.5


def static_site(folder: Path) -> contextlib.AbstractAsyncContextManager[str]:
    """A plain static web server over ``folder``, as a web host would serve the published files."""
    from aiohttp import web

    app = web.Application()
    app.router.add_static("/", folder)
    return web_site(app)


async def test_published_pages_update_in_chromium(tmp_path: Path) -> None:
    """The uploaded script.html swaps in new pictures and says when they were taken; stream.html plays
    the near-live ring; both from a static web server over the published folder."""
    from tests.browser import chromium

    site = tmp_path / "site"
    args = (*SOURCE, "--to", str(site), "--every", "0.5", "--stream-fps", "4")
    async with publishing(*args), chromium() as browser:
        await until(lambda: (site / "stream.json").exists() and captured(site) > 0)
        async with static_site(site) as base:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            await page.goto(base + "/script.html")
            first = await page.locator("#camcast-image").screenshot()
            await page.wait_for_function(
                "() => document.getElementById('camcast-status').textContent.startsWith('Last updated')",
                timeout=10000,
            )
            await until(lambda: changed(page, "#camcast-image", first))
            await page.goto(base + "/stream.html")
            await page.wait_for_function(
                "() => document.getElementById('camcast-ring').src.indexOf('stream/') >= 0", timeout=10000
            )
            first = await page.locator("#camcast-ring").screenshot()
            await until(lambda: changed(page, "#camcast-ring", first))
            assert errors == []
            index = await (await page.goto(base + "/index.html")).text()  # type: ignore[union-attr]
            assert "stream.html" in index and "script.html" in index and "refresh.html" in index


async def changed(page: object, selector: str, before: bytes) -> bool:
    return await page.locator(selector).screenshot() != before  # type: ignore[attr-defined,no-any-return]


async def test_script_page_flags_stale_when_uploads_stop(tmp_path: Path) -> None:
    """When publishing stops, the uploaded script.html says since when the picture is stale."""
    from tests.browser import chromium

    site = tmp_path / "site"
    async with publishing(*SOURCE, "--to", str(site), "--every", "0.5"):
        await until(lambda: captured(site) > 0)
    # every=0.5 s: stale once the picture is 10 s old (the page's lower bound)
    async with static_site(site) as base, chromium() as browser:
        page = await browser.new_page()
        await page.goto(base + "/script.html")
        await page.wait_for_function(
            "() => document.getElementById('camcast-status').textContent.startsWith('Stale since')",
            timeout=20000,
        )


async def test_serve_and_publish_from_one_capture(tmp_path: Path) -> None:
    """`camcast serve --publish-to` serves and publishes from one capture; pausing stops the uploads."""
    import aiohttp

    from tests.conftest import camcast_server

    site = tmp_path / "site"
    async with camcast_server(*SOURCE, "--publish-to", str(site), "--every", "0.3") as server:
        await until(lambda: captured(site) > 0)
        async with aiohttp.ClientSession() as session, session.get(server.url + "/snapshot.jpg") as resp:
            assert resp.status == 200
        assert run_cli("pause", "--listen", f"127.0.0.1:{server.port}").returncode == 0

        async def withheld(n: int) -> bool:
            async with aiohttp.ClientSession() as session, session.get(server.url + "/metrics") as resp:
                text = await resp.text()
            return float(text.split("camcast_upload_withheld_total{", 1)[1].split()[1]) >= n

        await until(lambda: withheld(2))  # two intervals closed: an upload begun before has landed
        frozen = captured(site)
        await until(lambda: withheld(7))  # five more intervals
        assert captured(site) == frozen  # nothing uploaded while paused
        assert run_cli("resume", "--listen", f"127.0.0.1:{server.port}").returncode == 0
        await until(lambda: captured(site) > frozen)


async def test_put_file_streams_a_large_file_to_every_kind_of_store(tmp_path: Path) -> None:
    """A 12 MB file (a recording's size class) copied with put_file to a folder, pyftpdlib and sshd
    arrives byte for byte under its name, with no temporary file left (S3's multipart copy is in
    tests/test_s3.py)."""
    import os

    from camcast.publish import open_store
    from camcast.publish.target import parse_target
    from tests.peers import sshd_server

    local = tmp_path / "clip.mp4"
    local.write_bytes(os.urandom(12 * 1024 * 1024))
    expected = local.read_bytes()
    with pyftpdlib_server(tmp_path / "ftp") as ftp, sshd_server(tmp_path) as ssh:
        known = tmp_path / "home" / ".ssh" / "known_hosts"
        known.parent.mkdir()
        known.write_text(ssh.host_key_line + "\n")
        (ssh.root / "copies").mkdir()
        stores = {
            tmp_path / "folder": open_store(parse_target(str(tmp_path / "folder"), None)),
            ftp.root: open_store(parse_target(ftp.url, FTP_PASSWORD)),
            ssh.root / "copies": open_store(
                parse_target(f"sftp://{ssh.user}@127.0.0.1:{ssh.port}{ssh.root}/copies", None),
                identity=str(ssh.identity),
            ),
        }
        for root, store in stores.items():
            try:
                await store.makedirs("cam/2026-12-04")
                await store.put_file("cam/2026-12-04/clip.mp4", local)
            finally:
                await store.aclose()
            copied = root / "cam" / "2026-12-04" / "clip.mp4"
            assert copied.read_bytes() == expected, store.describe()
            assert not [p for p in root.rglob(".camcast-*")], store.describe()
