"""What the settings page says about the server's TLS certificate: where it is, whom it names, until
when, and its SHA-256 fingerprint (what a browser shows for it, to compare by eye)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Tls:
    """What the page says about TLS: where the certificate is, whom it names, until when, its SHA-256."""

    cert: str
    subject: str = ""
    until: str = ""
    sha256: str = ""
    problem: str = ""


def tls_status(cert: str | None) -> Tls | None:
    """The certificate file `cert` described (None when the server has no TLS; a problem when the
    file cannot be read)."""
    if cert is None:
        return None
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        loaded = x509.load_pem_x509_certificate(Path(cert).read_bytes())
    except (OSError, ValueError) as exc:
        return Tls(cert, problem=f"cannot read it: {getattr(exc, 'strerror', None) or exc}")
    der = loaded.public_bytes(serialization.Encoding.DER)
    digest = hashlib.sha256(der).hexdigest().upper()
    return Tls(
        cert, loaded.subject.rfc4514_string(), loaded.not_valid_after_utc.strftime("%Y-%m-%d %H:%M UTC"),
        ":".join(digest[i : i + 2] for i in range(0, len(digest), 2)),
    )  # fmt: skip
