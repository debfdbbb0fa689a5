"""Publishing to a web host: pictures every N seconds, video, and the viewer pages, to a folder, FTP(S),
SFTP or S3."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from camcast.publish.store import RemoteStore
from camcast.publish.target import Target, parse_target

if TYPE_CHECKING:
    from camcast.config import CameraSettings

__all__ = ["RemoteStore", "Target", "open_store", "store_for"]


def open_store(
    target: Target,
    *,
    ca_file: str | None = None,
    fingerprint: str | None = None,
    active: bool = False,
    identity: str | None = None,
    s3_access_key: str | None = None,
    s3_secret_key: str | None = None,
) -> RemoteStore:
    """The store for ``target`` (not connected yet: the first operation connects)."""
    if target.scheme == "file":
        from camcast.publish.local import LocalStore

        return LocalStore(Path(target.path))
    if target.scheme == "s3":
        from camcast.publish.s3 import S3Bucket

        return S3Bucket(target, s3_access_key, s3_secret_key)
    if target.scheme == "sftp":
        from camcast.publish.sftp import SftpStore

        return SftpStore(target, identity=identity)
    from camcast.publish.ftp import FtpStore

    return FtpStore(target, ca_file=ca_file, fingerprint=fingerprint, active=active)


def store_for(settings: CameraSettings) -> RemoteStore:
    """The remote store a camera publishes to (not connected yet)."""
    assert settings.publish_to is not None
    target = parse_target(settings.publish_to, settings.upload_password)
    return open_store(
        target, ca_file=settings.ca_file, fingerprint=settings.fingerprint, active=settings.active,
        identity=settings.identity, s3_access_key=settings.s3_access_key,
        s3_secret_key=settings.s3_secret_key,
    )  # fmt: skip
