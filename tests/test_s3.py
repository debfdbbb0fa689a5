"""Publishing to S3, against SeaweedFS's S3 gateway on loopback: snapshots, pages, the archive with its
retention, and HLS video, read back by ffprobe, ffmpeg and Chromium as a visitor would (anonymous
HTTP reads of the bucket); and the start-up errors, one line each."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from camcast.picture.jpeg import decode_rgb
from camcast.publish.retention import Retention
from camcast.publish.s3 import S3Bucket
from camcast.publish.target import parse_target
from tests.browser import chromium, plays_steadily
from tests.conftest import run_cli
from tests.media import ffmpeg_frames, ffprobe_json
from tests.peers import S3_KEY, S3_SECRET, S3Peer
from tests.test_publish import publishing
from tests.waiting import until

pytestmark = pytest.mark.timeout(120)

SOURCE = ("--source", "pattern", "--size", "320x240", "--fps", "15")


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The credentials come from the usual AWS variables; HOME is the test's own (no ~/.aws)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    """An anonymous GET, as a visitor's browser or a CDN makes it."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), b""


def listed_segments(peer: S3Peer, playlist: str) -> list[str]:
    status, _, body = fetch(peer.public("cam", playlist))
    if status != 200:
        return []
    return [line for line in body.decode().splitlines() if line.endswith(".m4s")]


async def test_publish_to_s3_pictures_pages_archive_and_video(s3_peer: S3Peer) -> None:
    """`publish --to s3://… --hls`: the picture, its sidecar, the pages, the archive (kept to 2) and
    the HLS video land in the bucket with their content types and the Cache-Control a CDN needs; the
    playlist only ever names segments that are there; ffprobe, ffmpeg and Chromium play the video
    from the bucket."""
    s3_peer.create_bucket("cam")
    url = s3_peer.url("cam", "garden/")
    args = (*SOURCE, "--to", url, "--every", "1", "--archive", "--keep", "2", "--hls", "--hls-segment", "1")
    async with publishing(*args) as run:
        await until(lambda: len(listed_segments(s3_peer, "garden/hls/index.m3u8")) >= 4, 30)
        for path, kind, cache in [
            ("garden/webcam.jpg", "image/jpeg", "no-cache"),
            ("garden/webcam.json", "application/json", "no-cache"),
            ("garden/stream.html", "text/html; charset=utf-8", "public, max-age=300"),
            ("garden/hls/index.m3u8", "application/vnd.apple.mpegurl", "public, max-age=1"),
        ]:
            status, headers, _ = fetch(s3_peer.public("cam", path))
            assert (status, headers["Content-Type"], headers["Cache-Control"]) == (200, kind, cache), path
        assert decode_rgb(fetch(s3_peer.public("cam", "garden/webcam.jpg"))[2]).shape == (240, 320, 3)
        sidecar = json.loads(fetch(s3_peer.public("cam", "garden/webcam.json"))[2])
        assert abs(sidecar["captured"] - time.time()) < 30
        segment = listed_segments(s3_peer, "garden/hls/index.m3u8")[0]
        status, headers, _ = fetch(s3_peer.public("cam", f"garden/hls/{segment}"))
        assert status == 200 and headers["Cache-Control"] == "public, max-age=31536000, immutable"
        # Every playlist a visitor reads names only segments already uploaded.
        for _ in range(10):
            for name in listed_segments(s3_peer, "garden/hls/index.m3u8"):
                assert fetch(s3_peer.public("cam", f"garden/hls/{name}"))[0] == 200, name
            await asyncio.sleep(0.2)
        playlist = s3_peer.public("cam", "garden/hls/index.m3u8")
        assert ffprobe_json(playlist)["streams"] == [{"codec_name": "h264", "width": 320, "height": 240}]
        frames = await ffmpeg_frames(playlist, 5, "-live_start_index", "0")
        assert frames >= 5 * 15 * 0.9, frames
        async with chromium() as browser:
            page = await browser.new_page()
            await page.goto(s3_peer.public("cam", "garden/stream.html"))
            await plays_steadily(page, 5)
            assert await page.get_attribute("#camcast-player", "data-mode") == "hls.js"
        assert run.proc.poll() is None
    assert run.proc.returncode == 0
    assert S3_SECRET not in run.stdout + run.stderr
    # Retention runs at start and hourly: its pass over the bucket keeps the newest two of the archive.
    archived = sorted(p for p in await asyncio.to_thread(list_keys, s3_peer, "garden/archive/"))
    assert len(archived) >= 10
    store = S3Bucket(parse_target(url))
    deleted = await Retention(store, "archive/%Y/%m/%d/%H%M%S.jpg", None, 2).apply()
    assert sorted(f"garden/{p}" for p in deleted) == archived[:-2]
    assert sorted(await asyncio.to_thread(list_keys, s3_peer, "garden/archive/")) == archived[-2:]


def list_keys(peer: S3Peer, prefix: str, bucket: str = "cam") -> list[str]:
    import obstore
    from obstore.store import S3Store

    store = S3Store(
        bucket, endpoint=peer.endpoint, access_key_id=S3_KEY, secret_access_key=S3_SECRET,
        region="us-east-1", client_options={"allow_http": True},
    )  # fmt: skip
    return [o["path"] for batch in obstore.list(store, prefix) for o in batch]


def test_s3_startup_errors_are_one_line(s3_peer: S3Peer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bucket that does not exist, a wrong secret, an endpoint that does not answer, an unknown URL
    option and no credentials at all: one line each, exit 2, and the secret never printed."""
    s3_peer.create_bucket("errors")
    cases = {
        "does not exist": ("--to", s3_peer.url("no-such-bucket", "")),
        "does not answer": ("--to", "s3://errors/?endpoint=http://127.0.0.1:9"),
        "takes endpoint, region, profile": ("--to", s3_peer.url("errors", "") + "&colour=blue"),
    }
    for expected, args in cases.items():
        for command in (("publish", "--check"), ("publish", *SOURCE)):
            result = run_cli(*command, *args, timeout=60)
            assert result.returncode == 2 and expected in result.stderr, (expected, result.stderr)
            assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    wrong = run_cli("publish", "--check", "--to", s3_peer.url("errors", ""))
    assert wrong.returncode == 2 and "refused the S3 credentials" in wrong.stderr
    assert "not-the-secret" not in wrong.stderr
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    none = run_cli("publish", "--check", "--to", s3_peer.url("errors", ""))
    assert none.returncode == 2 and "no S3 credentials" in none.stderr
    assert len(none.stderr.strip().splitlines()) == 1


def test_s3_credentials_from_a_profile_and_the_check(
    s3_peer: S3Peer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A named profile of ~/.aws/credentials is used when the URL names it; `publish --check` writes,
    lists and deletes a file in the bucket and reports the times."""
    s3_peer.create_bucket("profiles")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    aws = tmp_path / "home" / ".aws"
    aws.mkdir(parents=True)
    (aws / "credentials").write_text(
        f"[default]\naws_access_key_id = nobody\naws_secret_access_key = wrong\n\n"
        f"[camera]\naws_access_key_id = {S3_KEY}\naws_secret_access_key = {S3_SECRET}\n"
    )
    default = run_cli("publish", "--check", "--to", s3_peer.url("profiles", "x/"))
    assert default.returncode == 2 and "refused the S3 credentials" in default.stderr
    named = run_cli("publish", "--check", "--to", s3_peer.url("profiles", "x/") + "&profile=camera")
    assert named.returncode == 0, named.stderr
    assert "works: connect" in named.stdout and "write+rename" in named.stdout
    assert list_keys(s3_peer, "x/", "profiles") == []  # the check's file is gone


async def test_put_file_uploads_a_large_file_in_parts(s3_peer: S3Peer, tmp_path: Path) -> None:
    """A 12 MB file goes up as a multipart upload (5 MiB parts) and reads back byte for byte, with
    the object's Content-Type."""
    import os

    s3_peer.create_bucket("copies")
    local = tmp_path / "clip.mp4"
    local.write_bytes(os.urandom(12 * 1024 * 1024))
    bucket = S3Bucket(parse_target(s3_peer.url("copies", "cam/"), None), S3_KEY, S3_SECRET)
    try:
        await bucket.put_file("2026-12-04/clip.mp4", local)
    finally:
        await bucket.aclose()
    status, headers, body = fetch(s3_peer.public("copies", "cam/2026-12-04/clip.mp4"))
    assert status == 200 and body == local.read_bytes()
    assert headers.get("Content-Type") == "video/mp4"
