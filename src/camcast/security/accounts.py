"""Viewer and owner accounts, stored as salted scrypt hashes in ``users.json`` (mode 0600).

Verifying a password costs ~170 ms of scrypt here by design (run it off the event loop). A viewer
whose page reloads a snapshot every second would pay that per request, so successful checks are
remembered for a few minutes, keyed by a hash of the credentials (never the password itself).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from camcast.errors import ConfigError
from camcast.security.device import DeviceKey
from camcast.security.registry import Registry

ROLES = ("viewer", "owner")
NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
#: Shortest password accepted: ETSI EN 303 645 provision 5.1 asks for no weak passwords.
MIN_PASSWORD = 10
#: scrypt cost: N=2^15, r=8, p=1 takes ~170 ms and 32 MiB on this project's 2.5 GHz machine; OWASP
#: suggests at least 2^17, which would take over 2 s on a Raspberry Pi-class camera host.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
#: Seconds a successful check is remembered (see module docstring).
VERIFIED_TTL = 300.0


@dataclass(frozen=True)
class Account:
    """``cameras`` limits the account to those cameras (by name); empty means every camera. ``onvif``:
    its password is also kept sealed, for the digests NVRs prove it with (:mod:`camcast.security.device`)."""

    name: str
    role: str
    cameras: tuple[str, ...] = ()
    onvif: bool = False


def _hash(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=128 * 1024 * 1024, dklen=32
    )


class Accounts:
    """The accounts in ``path``, reloaded whenever the file changes (e.g. ``camcast users add``)."""

    def __init__(self, path: Path, device: DeviceKey | None = None) -> None:
        self.path = path
        self.device = device or DeviceKey(path.parent / "device.key")
        self.file: Registry[dict[str, dict[str, object]]] = Registry(path, _parse, {})
        self._seen = -1  # the file's generation the verified passwords below are of
        self._verified: dict[bytes, tuple[float, Account]] = {}

    def _load(self, fresh: bool = False) -> dict[str, dict[str, object]]:
        records = self.file.get(fresh)
        if self.file.generation != self._seen:
            self._seen = self.file.generation
            self._verified.clear()  # a password or an account changed: check them again
        return records

    def __bool__(self) -> bool:
        return bool(self._load())

    def list(self) -> list[Account]:
        return [_account(name, rec) for name, rec in sorted(self._load().items())]

    def add(
        self, name: str, password: str, role: str, cameras: tuple[str, ...] = (), onvif: bool = False
    ) -> None:
        if not NAME_RE.match(name):
            raise ConfigError("account names are 1–64 letters, digits, '.', '_' or '-'")
        if role not in ROLES:
            raise ConfigError(f"must be one of {', '.join(ROLES)}", key="role")
        if len(password) < MIN_PASSWORD:
            raise ConfigError(f"the password must have at least {MIN_PASSWORD} characters")
        records = dict(self._load(fresh=True))
        salt = os.urandom(16)
        records[name] = {
            "role": role,
            "cameras": list(cameras),
            "scrypt": {"n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P, "salt": salt.hex()},
            "hash": _hash(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P).hex(),
        }
        if onvif:
            records[name]["sealed"] = self.device.seal(password)
        self._save(records)

    def change_password(self, name: str, password: str) -> None:
        """Give account ``name`` a new password (its role and cameras stay)."""
        record = self._load(fresh=True).get(name)
        if record is None:
            raise ConfigError(f"no account named {name!r}; `camcast users list` shows them")
        account = _account(name, record)
        self.add(name, password, account.role, account.cameras, account.onvif)

    def device_password(self, name: str) -> str | None:
        """``name``'s password if it is an ``onvif`` account (unsealed), else None."""
        record = self._load().get(name)
        sealed = record.get("sealed") if record is not None else None
        return self.device.unseal(sealed) if isinstance(sealed, str) else None

    def proof(self, name: str) -> str | None:
        """A digest that changes when ``name``'s password, role or cameras change (None: no such
        account): a session signed in before such a change ends with it."""
        record = self._load().get(name)
        if record is None:
            return None
        return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()

    def remove(self, name: str) -> None:
        records = dict(self._load(fresh=True))
        if name not in records:
            raise ConfigError(f"no account named {name!r}; `camcast users list` shows them")
        del records[name]
        self._save(records)

    def _save(self, records: dict[str, dict[str, object]]) -> None:
        data = (json.dumps({"users": records}, indent=1, sort_keys=True) + "\n").encode()
        self.file.write(data, records)

    def verify(self, name: str, password: str) -> Account | None:
        """The account if ``password`` is right, else None (in time independent of which was wrong)."""
        records = self._load()
        now = time.monotonic()
        key = hashlib.sha256(f"{name}\0{password}".encode("utf-8", "surrogatepass")).digest()
        hit = self._verified.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        record = records.get(name)
        if record is None:
            # Spend the same time as a real check, so timing does not reveal which names exist.
            _hash(password, b"\0" * 16, SCRYPT_N, SCRYPT_R, SCRYPT_P)
            return None
        params = record["scrypt"]
        assert isinstance(params, dict)
        salt = bytes.fromhex(str(params["salt"]))
        expected = bytes.fromhex(str(record["hash"]))
        actual = _hash(password, salt, int(params["n"]), int(params["r"]), int(params["p"]))
        if not hmac.compare_digest(actual, expected):
            return None
        account = _account(name, record)
        if len(self._verified) > 1024:
            self._verified.clear()
        self._verified[key] = (now + VERIFIED_TTL, account)
        return account


def _parse(data: bytes) -> dict[str, dict[str, object]]:
    return dict(json.loads(data.decode("utf-8"))["users"])


def _account(name: str, record: dict[str, object]) -> Account:
    cameras = record.get("cameras") or []
    cameras = tuple(str(c) for c in cameras)  # type: ignore[attr-defined]
    return Account(name, str(record["role"]), cameras, isinstance(record.get("sealed"), str))
