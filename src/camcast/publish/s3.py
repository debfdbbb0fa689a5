"""S3 and every S3-compatible store (Cloudflare R2, Backblaze B2, MinIO, SeaweedFS, Ceph), on obstore.

An object PUT is atomic by itself: a reader gets the old object or the new one, never part of one, so
``put_atomic`` is one request and there are no temporary names. Each object gets its Content-Type and
a Cache-Control that tells a CDN in front of the bucket how long to keep it (:func:`cache_control`).
S3 has no folders: ``makedirs`` only checks, on first use, that the bucket answers to the credentials.

Credentials, first found wins: the config file (``s3_access_key`` and ``s3_secret_key``), the usual
AWS variables (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``), then a profile
of ``~/.aws/credentials`` (the URL's ``profile=``, else ``AWS_PROFILE``, else ``default``). They are
never printed. The region and endpoint come from the URL, else the AWS variables, else the profile's
``~/.aws/config`` section.
"""

from __future__ import annotations

import configparser
import contextlib
import datetime
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import obstore
from obstore.exceptions import NotFoundError
from obstore.store import S3Store

from camcast.errors import ConfigError, mention
from camcast.publish.errors import map_s3_errors
from camcast.publish.store import Entry
from camcast.publish.target import KEY, Target

if TYPE_CHECKING:
    from obstore.store import RetryConfig

#: Seconds to connect, and for a whole request.
CONNECT_TIMEOUT = 10
REQUEST_TIMEOUT = 30
#: Bytes per part of a file's multipart upload (S3's smallest part is 5 MiB); two parts are in
#: flight, so a copy holds at most 10 MiB of a recording in memory.
MULTIPART_CHUNK = 5 * 1024 * 1024
#: What a CDN may keep, by kind of file: the playlist changes every segment; segments, parts and init
#: segments never change under their name; the snapshot and its sidecars change every few seconds.
PLAYLIST_CACHE = "public, max-age=1"
IMMUTABLE = "public, max-age=31536000, immutable"
CHANGING = "no-cache"
PAGE_CACHE = "public, max-age=300"
CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".jpg": "image/jpeg",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}


def cache_control(path: str) -> str:
    """The Cache-Control an object at ``path`` is stored with."""
    ext = posixpath.splitext(path)[1].lower()
    if ext == ".m3u8":
        return PLAYLIST_CACHE
    if ext in (".m4s", ".mp4"):
        return IMMUTABLE
    if ext in (".jpg", ".json"):
        return CHANGING  # the snapshot, webcam.json, the near-live ring: a CDN must ask every time
    return PAGE_CACHE


@dataclass(frozen=True)
class S3Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # never in a log or a traceback
        return f"S3Credentials(access_key_id={self.access_key_id!r}, secret_access_key=***)"


def _aws_file(env: str, default: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    path = Path(os.environ.get(env) or Path.home() / ".aws" / default).expanduser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {str(exc).splitlines()[0]}") from exc
    return parser


def resolve_credentials(
    target: Target, access_key: str | None = None, secret_key: str | None = None
) -> tuple[S3Credentials, str | None, str | None]:
    """The credentials, region and endpoint for ``target`` (see the module docstring); a ConfigError
    naming the places looked in when there are none."""
    profile = target.option("profile") or os.environ.get("AWS_PROFILE") or "default"
    config = _aws_file("AWS_CONFIG_FILE", "config")
    section = "default" if profile == "default" else f"profile {profile}"
    profile_config = config[section] if config.has_section(section) else {}
    region = (
        target.option("region")
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or profile_config.get("region")
    )
    endpoint = (
        target.option("endpoint")
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
        or profile_config.get("endpoint_url")
    )
    if access_key or secret_key:
        if not (access_key and secret_key):
            raise ConfigError(
                f"needs both {mention('s3_access_key')} and {mention('s3_secret_key')}", key="s3_access_key"
            )
        return S3Credentials(access_key, secret_key), region, endpoint
    env_key, env_secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if env_key and env_secret:
        return S3Credentials(env_key, env_secret, os.environ.get("AWS_SESSION_TOKEN")), region, endpoint
    shared = _aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials")
    if shared.has_section(profile):
        found = shared[profile]
        key, secret = found.get("aws_access_key_id"), found.get("aws_secret_access_key")
        if key and secret:
            return S3Credentials(key, secret, found.get("aws_session_token")), region, endpoint
    raise ConfigError(
        f"no S3 credentials for {target.describe()}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a "
        f"[{profile}] profile in ~/.aws/credentials, or s3_access_key and s3_secret_key in the config file",
        key=KEY,
    )


class S3Bucket:
    """A :class:`~camcast.publish.store.RemoteStore` on a bucket and key prefix."""

    def __init__(self, target: Target, access_key: str | None = None, secret_key: str | None = None) -> None:
        self.target = target
        credentials, region, endpoint = resolve_credentials(target, access_key, secret_key)
        self.endpoint = endpoint
        config: dict[str, Any] = {
            "access_key_id": credentials.access_key_id,
            "secret_access_key": credentials.secret_access_key,
            "region": region or "us-east-1",
        }
        if credentials.session_token:
            config["session_token"] = credentials.session_token
        if endpoint:
            config["endpoint"] = endpoint
            config["virtual_hosted_style_request"] = False  # path style: what every S3-compatible store takes
        # The publisher retries with its own backoff; a quick second try covers a dropped connection.
        retry: RetryConfig = {
            "max_retries": 1,
            "retry_timeout": datetime.timedelta(seconds=REQUEST_TIMEOUT),
            "backoff": {
                "init_backoff": datetime.timedelta(seconds=0.2),
                "max_backoff": datetime.timedelta(seconds=1),
                "base": 2,
            },
        }
        self._store = S3Store(
            target.host,
            prefix=target.path or None,
            config=config,  # type: ignore[arg-type]
            client_options={
                "allow_http": bool(endpoint and endpoint.startswith("http://")),
                "connect_timeout": datetime.timedelta(seconds=CONNECT_TIMEOUT),
                "timeout": datetime.timedelta(seconds=REQUEST_TIMEOUT),
            },
            retry_config=retry,
        )
        self._checked = False

    def describe(self) -> str:
        return self.target.describe()

    def _errors(self, what: str) -> contextlib.AbstractContextManager[None]:
        return map_s3_errors(what, self.describe(), self.target.host)

    async def put_atomic(self, path: str, data: bytes) -> None:
        with self._errors(f"uploading {path}"):
            await obstore.put_async(
                self._store, path, data, attributes=_attributes(path), use_multipart=False
            )

    async def put_file(self, path: str, local: Path) -> None:
        """``local``, read by obstore a part at a time: multipart for a large file (parts of
        MULTIPART_CHUNK bytes, two in flight), one PUT for a small one; either way the object appears
        whole or not at all."""
        with self._errors(f"uploading {path}"):
            await obstore.put_async(self._store, path, local, attributes=_attributes(path),
                                    chunk_size=MULTIPART_CHUNK, max_concurrency=2)  # fmt: skip

    async def delete(self, path: str) -> None:
        with contextlib.suppress(NotFoundError), self._errors(f"deleting {path}"):
            await obstore.delete_async(self._store, path)

    async def list(self, folder: str) -> list[Entry]:
        prefix = folder.strip("/") or None
        with self._errors(f"listing {folder or '/'}"):
            found = await obstore.list_with_delimiter_async(self._store, prefix)
        entries = [Entry(posixpath.basename(p.rstrip("/")), True) for p in found["common_prefixes"]]
        entries += [
            Entry(posixpath.basename(o["path"]), False, o["size"], o["last_modified"].timestamp())
            for o in found["objects"]
        ]
        return entries

    async def makedirs(self, folder: str) -> None:
        """S3 has no folders; the first call checks that the bucket answers (exists, and takes the
        credentials), so a bad bucket, key or endpoint fails at start-up."""
        if self._checked:
            return
        with self._errors("listing the bucket"):
            await obstore.list_with_delimiter_async(self._store, None)
        self._checked = True

    async def aclose(self) -> None:
        return None


def _attributes(path: str) -> dict[str, str]:
    """The object's Cache-Control for a CDN, and its Content-Type when the extension says it."""
    attributes = {"Cache-Control": cache_control(path)}
    ext = posixpath.splitext(path)[1].lower()
    if ext in CONTENT_TYPES:
        attributes["Content-Type"] = CONTENT_TYPES[ext]
    return attributes
