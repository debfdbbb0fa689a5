"""Foreign errors of the stores' libraries, mapped once per library to :class:`UploadRefused` (the
server said no: the same request would fail again) or :class:`UploadLost` (the connection failed: a new
one may work), with ``raise ... from exc`` so the cause stays in debug logs."""

from __future__ import annotations

import contextlib
import ftplib
import socket
import ssl
from collections.abc import Iterator

import asyncssh

from camcast.errors import UploadError, UploadLost, UploadRefused, mention

#: FTP reply codes that mean the login itself was refused.
_LOGIN_REFUSED = ("530", "532")


def reason(exc: BaseException) -> str:
    """The first line of an error's message, at most 200 characters."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


@contextlib.contextmanager
def map_ftp_errors(what: str, where: str) -> Iterator[None]:
    """Translate every ftplib, TLS and socket error raised inside into an UploadError."""
    try:
        yield
    except UploadError:
        raise
    except ftplib.error_perm as exc:
        if str(exc)[:3] in _LOGIN_REFUSED:
            raise UploadRefused(f"{where} refused the login: {reason(exc)}") from exc
        raise UploadRefused(f"{what} on {where} refused: {reason(exc)}") from exc
    except ssl.SSLCertVerificationError as exc:
        raise UploadRefused(
            f"{where}'s TLS certificate is not trusted ({exc.verify_message}); pass "
            f"{mention('ca_file')}, or {mention('fingerprint')} SHA256 to pin a self-signed certificate"
        ) from exc
    except socket.gaierror as exc:
        raise UploadLost(f"unknown host in {where}") from exc
    except ConnectionRefusedError as exc:
        raise UploadLost(f"{where} refused the connection (is the FTP server running?)") from exc
    except (OSError, EOFError, ftplib.Error) as exc:
        raise UploadLost(f"{what} on {where} failed: {reason(exc)}") from exc


@contextlib.contextmanager
def map_ssh_errors(what: str, where: str) -> Iterator[None]:
    """Translate every asyncssh and socket error raised inside into an UploadError."""
    try:
        yield
    except UploadError:
        raise
    except asyncssh.PermissionDenied as exc:
        raise UploadRefused(
            f"{where} refused the SSH login: add your public key to its ~/.ssh/authorized_keys, or pass "
            f"{mention('identity')} FILE"
        ) from exc
    except asyncssh.SFTPError as exc:
        raise UploadRefused(f"{what} on {where} refused: {exc.reason}") from exc
    except (OSError, asyncssh.Error, TimeoutError) as exc:
        raise UploadLost(f"{what} on {where} failed: {reason(exc)}") from exc
