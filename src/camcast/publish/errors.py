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
from obstore.exceptions import BaseError, PermissionDeniedError, UnauthenticatedError

from camcast.errors import UploadError, UploadLost, UploadRefused, mention

#: FTP reply codes that mean the login itself was refused.
_LOGIN_REFUSED = ("530", "532")
#: The FTP reply to an action on a file or folder that is not there (or not allowed).
FTP_UNAVAILABLE = "550"
#: FTP replies to a command the server does not know or take (a server without MLSD, say).
FTP_UNKNOWN_COMMAND = ("500", "501", "502", "504")
#: Codes in S3 error texts that mean the bucket is in another region than the one asked.
_WRONG_REGION = ("AuthorizationHeaderMalformed", "PermanentRedirect", "IncorrectEndpoint")


def ftp_code(exc: ftplib.Error) -> str:
    """The three-digit reply code of an ftplib error ("550"), or "" when it has none."""
    code = str(exc)[:3]
    return code if code.isdigit() else ""


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
        if ftp_code(exc) in _LOGIN_REFUSED:
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
    except ftplib.all_errors as exc:
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
    except (asyncssh.SFTPConnectionLost, asyncssh.SFTPNoConnection) as exc:
        # The session is gone (the server restarted, or killed it): the connection must be made anew,
        # which only a lost one is; as a refusal it was kept, and every upload after failed on it.
        raise UploadLost(f"{what} on {where} failed: {exc.reason}") from exc
    except asyncssh.SFTPError as exc:
        raise UploadRefused(f"{what} on {where} refused: {exc.reason}") from exc
    except (OSError, asyncssh.Error, TimeoutError) as exc:
        raise UploadLost(f"{what} on {where} failed: {reason(exc)}") from exc


@contextlib.contextmanager
def map_local_errors(what: str) -> Iterator[None]:
    """Translate an OSError of a local folder's file operations into an UploadRefused."""
    try:
        yield
    except UploadError:
        raise
    except OSError as exc:
        raise UploadRefused(f"cannot {what}: {exc.strerror or reason(exc)}") from exc


@contextlib.contextmanager
def map_s3_errors(what: str, where: str, bucket: str) -> Iterator[None]:
    """Translate obstore's errors (and the S3 error codes in their text) into one-line UploadErrors."""
    try:
        yield
    except UploadError:
        raise
    except BaseError as exc:
        text = str(exc)
        if "NoSuchBucket" in text:
            raise UploadRefused(f"bucket {bucket} does not exist at {where}") from exc
        if any(code in text for code in _WRONG_REGION):
            raise UploadRefused(
                f"bucket {bucket} is in another region than the one configured: add region=THE_REGION to the "
                "s3:// URL (or set AWS_REGION)"
            ) from exc
        if isinstance(exc, UnauthenticatedError) or any(
            code in text for code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken")
        ):
            raise UploadRefused(f"{where} refused the S3 credentials (wrong or expired key)") from exc
        if isinstance(exc, PermissionDeniedError) or "AccessDenied" in text:
            raise UploadRefused(f"{what} on {where} refused: access denied for these credentials") from exc
        if "error sending request" in text or "timed out" in text.lower() or "connect" in text.lower():
            raise UploadLost(f"{where} does not answer (is the endpoint right?)") from exc
        status = _http_status(text)
        raise (UploadRefused if status and 400 <= status < 500 else UploadLost)(
            f"{what} on {where} failed" + (f" (HTTP {status})" if status else "")
        ) from exc


def _http_status(text: str) -> int | None:
    """The HTTP status in an obstore error's text ("... non-2xx status code: 403 ...")."""
    marker = "non-2xx status code: "
    at = text.find(marker)
    if at < 0:
        return None
    digits = text[at + len(marker) : at + len(marker) + 3]
    return int(digits) if digits.isdigit() else None
