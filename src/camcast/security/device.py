"""What an NVR's account needs beyond a password hash: its password sealed, and URLs bound to it.

ONVIF's WS-UsernameToken (``PasswordDigest``) and HTTP Digest prove a password by a hash of it with a
nonce: the server must know the password itself to check one, which a scrypt hash cannot give. So an
account made for devices (``camcast users add NVR --onvif``) also keeps its password sealed
(AES-256-GCM) under a key in a file of its own, ``device.key`` (mode 0600): a copy of ``users.json``
alone does not reveal it. Other accounts keep only their scrypt hash.

The stream and snapshot URLs an ONVIF client is given carry a *device token* instead of a password
(RTSP clients and NVRs over a LAN cannot send one over plain text here): it names the account, the
camera and the account's state when it was made, signed with the same key. It opens that camera's
stream and picture only, for as long as the account stays as it was: removing the account or changing
its password voids every URL it was given, at once, on what is already open too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path

from camcast.security.registry import Registry
from camcast.security.tokens import b64url, unb64url

#: What marks a device token (share links' tokens never start so: base64url of '{').
PREFIX = "d."
KEY_BYTES = 32


def _key_of(data: bytes) -> bytes | None:
    return data if len(data) == KEY_BYTES else None


@dataclass(frozen=True)
class DeviceGrant:
    """A device token's content: the account, the camera, and the account's proof when it was made."""

    account: str
    camera: str
    proof: str


class DeviceKey:
    """The key in ``path``, made on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file: Registry[bytes | None] = Registry(path, _key_of, None)

    def _key(self, create: bool) -> bytes | None:
        key = self.file.get(fresh=create)
        if key is None and create and not self.path.exists():
            key = os.urandom(KEY_BYTES)
            self.file.write(key, key)
        return key

    def ensure(self) -> None:
        """Make the key now if there is none (blocking: at a server's start, so that a request never
        writes it)."""
        self._key(create=True)

    def seal(self, password: str) -> str:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        key = self._key(create=True)
        assert key is not None
        nonce = os.urandom(12)
        return b64url(
            nonce + AESGCM(key).encrypt(nonce, password.encode("utf-8"), b"camcast device password")
        )

    def unseal(self, sealed: str) -> str | None:
        """The password sealed in ``sealed``, or None (no key, another key, damaged)."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        key = self._key(create=False)
        if key is None:
            return None
        try:
            data = unb64url(sealed)
            return AESGCM(key).decrypt(data[:12], data[12:], b"camcast device password").decode("utf-8")
        except (ValueError, InvalidTag, UnicodeDecodeError):
            return None

    def sign(self, grant: DeviceGrant) -> str | None:
        """A token for ``grant`` (None while there is no key: :meth:`ensure` makes it)."""
        key = self._key(create=False)
        if key is None:
            return None
        payload = json.dumps([grant.account, grant.camera, grant.proof], separators=(",", ":")).encode()
        signature = hmac.new(key, b"device " + payload, hashlib.sha256).digest()
        return f"{PREFIX}{b64url(payload)}.{b64url(signature)}"

    def verify(self, token: str) -> DeviceGrant | None:
        """The grant ``token`` carries if this key signed it, else None."""
        key = self._key(create=False)
        body, dot, sig = token.removeprefix(PREFIX).partition(".")
        if key is None or not dot or len(token) > 512:
            return None
        try:
            payload, signature = unb64url(body), unb64url(sig)
            expected = hmac.new(key, b"device " + payload, hashlib.sha256).digest()
            if not hmac.compare_digest(expected, signature):
                return None
            account, camera, proof = json.loads(payload)
            return DeviceGrant(str(account), str(camera), str(proof))
        except (ValueError, TypeError):
            return None
