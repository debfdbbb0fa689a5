"""Where to publish: parsing the destination URL, and finding the password without putting it on the
command line."""

from __future__ import annotations

import logging
import netrc
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from camcast.errors import ConfigError

log = logging.getLogger(__name__)

SCHEMES = {"ftp": 21, "ftps": 21, "ftps+implicit": 990, "sftp": 22, "s3": 443}
#: What an s3:// URL's query may set: the S3-compatible endpoint, the region, the credentials profile.
S3_OPTIONS = ("endpoint", "region", "profile")
PASSWORD_ENV = "CAMCAST_UPLOAD_PASSWORD"
#: The setting a bad destination is reported against.
KEY = "publish_to"


@dataclass(frozen=True)
class Target:
    """A parsed destination: ``scheme`` is ftp, ftps, ftps+implicit, sftp, s3 or file; ``path`` the
    folder. For s3, ``host`` is the bucket, ``path`` the key prefix and ``options`` what the URL's
    query set (see :data:`S3_OPTIONS`)."""

    scheme: str
    host: str = ""
    port: int = 0
    user: str = ""
    password: str = ""
    path: str = ""
    options: tuple[tuple[str, str], ...] = ()

    def option(self, name: str) -> str | None:
        return dict(self.options).get(name)

    def describe(self) -> str:
        """The target without its password."""
        if self.scheme == "file":
            return self.path
        if self.scheme == "s3":
            endpoint = self.option("endpoint")
            return f"s3://{self.host}/{self.path}" + (f" at {endpoint}" if endpoint else "")
        user = f"{self.user}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{user}{host}:{self.port}/{self.path.lstrip('/')}"


def parse_target(text: str, config_password: str | None = None) -> Target:
    """The destination ``text`` as a Target, with the password from (in order) the URL (with a warning), the
    CAMCAST_UPLOAD_PASSWORD environment variable, the config file, or ~/.netrc."""
    text = text.strip()
    if not text:
        raise ConfigError(
            "needs a destination: a folder, or an ftp://, ftps://, sftp:// or s3:// URL", key=KEY
        )
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in ("", "file") or (len(scheme) == 1 and text[1:2] == ":"):
        folder = unquote(parts.path) if scheme == "file" else text
        return Target("file", path=str(Path(folder).expanduser()))
    if scheme not in SCHEMES:
        raise ConfigError(
            f"{text}: unsupported destination {scheme}://; use a folder, file://, ftp://, ftps://, "
            "ftps+implicit://, sftp:// or s3://",
            key=KEY,
        )
    if scheme == "s3":
        return _s3_target(text)
    if not parts.hostname:
        raise ConfigError(f"{scheme}:// needs a host name, e.g. {scheme}://user@example.org/folder/", key=KEY)
    try:
        port = parts.port or SCHEMES[scheme]
    except ValueError:
        raise ConfigError("has a port that is not a number from 1 to 65535", key=KEY) from None
    user = unquote(parts.username or "")
    password = unquote(parts.password or "")
    if password:
        log.warning(
            "the upload password is in the destination URL, where other users can see it in the process list;"
            " "
            "use %s, the config file or ~/.netrc instead",
            PASSWORD_ENV,
        )
    else:
        password = os.environ.get(PASSWORD_ENV) or config_password or ""
    if not password and scheme != "sftp":
        entry = _netrc(parts.hostname)
        if entry is not None:
            user = user or entry[0]
            password = entry[1]
    if scheme != "sftp" and not user:
        user = "anonymous"
    if scheme == "sftp":
        # As in curl: sftp://host/var/www is absolute, sftp://host/~/www is in the login's home.
        path = unquote(parts.path)
        path = path[3:] if path.startswith("/~/") else path
    else:
        # RFC 1738: an FTP URL's path is relative to the login folder; %2F makes it absolute.
        path = unquote(parts.path[1:])
    return Target(scheme, parts.hostname, port, user, password, path)


def _s3_target(text: str) -> Target:
    """``s3://bucket/prefix/?endpoint=URL&region=R&profile=P``; credentials are found later, when the
    store opens (they never sit in the URL)."""
    parts = urlsplit(text)
    bucket = parts.netloc
    if not bucket:
        raise ConfigError("s3:// needs a bucket, e.g. s3://camera-bucket/garden/", key=KEY)
    if "@" in bucket or ":" in bucket:
        raise ConfigError(
            "s3:// takes no user, password or port: the bucket comes first (s3://BUCKET/prefix/); set "
            "the credentials with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile, or the config file",
            key=KEY,
        )
    options = parse_qsl(parts.query, keep_blank_values=True)
    for name, value in options:
        if name not in S3_OPTIONS:
            raise ConfigError(f"s3:// takes {', '.join(S3_OPTIONS)} in its query, not {name!r}", key=KEY)
        if not value:
            raise ConfigError(f"s3:// option {name} is empty", key=KEY)
    endpoint = dict(options).get("endpoint")
    if endpoint is not None:
        e = urlsplit(endpoint)
        if e.scheme not in ("http", "https") or not e.hostname:
            raise ConfigError(f"endpoint={endpoint} must be an http:// or https:// URL", key=KEY)
    prefix = unquote(parts.path).strip("/")
    return Target("s3", host=bucket, path=prefix, options=tuple(options))


def _netrc(host: str) -> tuple[str, str] | None:
    try:
        found = netrc.netrc().authenticators(host)
    except FileNotFoundError:
        return None
    except (netrc.NetrcParseError, OSError) as exc:
        raise ConfigError(f"cannot read ~/.netrc: {exc}") from exc
    if found is None:
        return None
    login, _, password = found
    return login or "", password or ""
