"""Who is asking, and may they: one policy for every way in (HTTP, RTSP, the control socket), deny by
default.

Every route names the least role it needs: ``public`` (health check, static assets), ``viewer``
(pages, snapshot, stream, status) or ``owner`` (control). Whoever asks is described by an
:class:`Asking` (made by the transport: :func:`camcast.server.auth.asking` for HTTP, the RTSP server
for RTSP), and their principal comes from, in order:

- the control socket (a Unix socket only the owner's user can open): the owner;
- ``?token=`` (a share link), or the same token as ``Authorization: Bearer`` (how WHEP clients send
  it): a viewer limited to the link's scope;
- ``Authorization: Bearer`` with the scraper's metrics token (``camcast metrics-token``): ``/metrics``
  and nothing else;
- a session cookie (:mod:`camcast.security.sessions`), from ``/login`` or from opening ``/settings``;
  its changes must carry the session's CSRF token;
- ``Authorization: Basic`` checked against the accounts, accepted only over TLS or from loopback;
- nobody: an anonymous viewer when the server is ``--public`` with no accounts; an anonymous owner
  when no account exists and the server listens on loopback only (the local user); otherwise refused.

Anonymous loopback access also requires a loopback host name, so a web page cannot rebind its own
domain name to 127.0.0.1 and read the camera from the visitor's browser (DNS rebinding), and a
loopback client that is not a relay for someone else: a request carrying forwarding headers from a
proxy that is not trusted (``--trusted-proxy``) is never the local user.

A refusal is a :class:`Refused` with the status each transport answers (401, 403, 429) and one line.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from collections.abc import Callable

from camcast.errors import CamcastError
from camcast.net import is_loopback_host
from camcast.runtime.worker import Worker
from camcast.security.accounts import Account, Accounts
from camcast.security.deliveries import Deliveries
from camcast.security.device import PREFIX as DEVICE_PREFIX
from camcast.security.device import DeviceGrant
from camcast.security.digest import HttpDigest, TokenNonces, parse_digest
from camcast.security.limits import FailureLimiter
from camcast.security.links import ShareLinks
from camcast.security.principal import Asking, Principal, Refused
from camcast.security.sessions import Session, Sessions
from camcast.security.tokens import MetricsToken, TokenError

__all__ = ["REALM", "Asking", "Gate", "Principal", "Refused"]

log = logging.getLogger(__name__)

#: The part of an account's proof a device URL carries (64 bits: enough to tell a change).
PROOF_CHARS = 16

REALM = 'Basic realm="camcast", charset="UTF-8"'
#: Seconds between looks at the registries' files (a stat of each, in the registry worker): a change
#: made from a terminal (an account removed, a link revoked) reaches the server within this.
REFRESH_EVERY = 0.5
#: Why a program on this computer is refused once accounts exist.
NO_LOCAL_ANONYMOUS = (
    "sign in to watch this camera: accounts exist, so this computer signs in too (an account's name "
    "and password, or a share link from `camcast share`)"
)


class Gate:
    """Authenticates whoever asks and applies the role policy; one per server. ``scopes`` names the
    routes a share link's scope opens (the route table's, :func:`camcast.server.urls.scope_routes`)."""

    def __init__(
        self,
        accounts: Accounts,
        shares: ShareLinks,
        *,
        loopback_only: bool,
        public: bool,
        tls: bool,
        scopes: Callable[[str], frozenset[str]],
        metrics: MetricsToken | None = None,
    ) -> None:
        self.accounts = accounts
        self.shares = shares
        self.metrics = metrics
        self.loopback_only = loopback_only
        self.public = public
        self.tls = tls
        self.scopes = scopes
        self.limiter = FailureLimiter()
        self.sessions = Sessions()
        self.http_digest = HttpDigest()
        self.token_nonces = TokenNonces()
        #: Every read and write of the registries' files goes through this thread, never the loop's.
        self.files = Worker("registries", 64, when_full="refuse")
        #: What is open (streams, peers, sessions), each under who it was opened for.
        self.deliveries: Deliveries[Principal] = Deliveries(self.still)

    # --- the registries, off the event loop ----------------------------------------------------------
    def hold(self) -> None:
        """Read the registries now and from then on only in :meth:`watch` (blocking: at the start)."""
        self._refresh()
        self.accounts.file.cached = True
        self.accounts.device.file.cached = True
        if self.metrics is not None:
            self.metrics.file.cached = True
        self.shares.hold()

    def _refresh(self) -> None:
        self.accounts.file.refresh()
        self.accounts.device.file.refresh()
        self.shares.refresh()
        if self.metrics is not None:
            self.metrics.file.refresh()

    async def watch(self) -> None:
        """Until cancelled: the registries' files looked at every REFRESH_EVERY seconds, and read
        again when a command changed them; the share links' last uses written."""
        while True:
            await asyncio.sleep(REFRESH_EVERY)
            before = self._generations()
            await self.files.run(self._refresh)
            if self._generations() != before:
                self.deliveries.recheck()  # a command revoked a link or changed an account

    async def _changed_since(self, before: tuple[int, ...]) -> bool:
        """Look at the registries now (a refusal may be of something a command made a moment ago,
        before the next :meth:`watch`): whether any changed since ``before``."""
        try:
            await self.files.run(self._refresh)
        except CamcastError:  # the registries' worker is stuck on the disk: what memory holds stands
            return False
        return self._generations() != before

    def _generations(self) -> tuple[int, ...]:
        metrics = self.metrics.file.generation if self.metrics is not None else 0
        return (self.accounts.file.generation, self.shares.file.generation,
                self.shares.keys.file.generation, metrics)  # fmt: skip

    # --- whether what was let in still holds ----------------------------------------------------------
    def still(self, p: Principal) -> str | None:
        """Why ``p``'s access no longer holds (a link revoked or expired, an account removed or
        changed, a session ended, accounts made since an anonymous viewer came), or None."""
        if p.via == "share":
            try:
                self.shares.verify(p.token, note_use=False)
            except TokenError as exc:
                return (
                    f"the share link is {exc}"
                    if str(exc) in ("revoked", "expired")
                    else "the share link is void"
                )
            return None
        if p.via in ("account", "device"):
            return None if self.accounts.proof(p.name) == p.proof else "the account was removed or changed"
        if p.via == "session":
            session = self.sessions.get(p.session)
            if session is None:
                return "the sign-in session ended"
            if session.via == "account" and self.accounts.proof(p.name) != session.proof:
                return "the account was removed or changed"
            if session.via == "local" and self.accounts:
                return "accounts exist now: everyone signs in"
            return None
        if p.via == "anonymous":
            if self.accounts:
                return "accounts exist now: everyone signs in"
            if p.role == "viewer" and not self.public:
                return "the server no longer lets anyone watch"
        return None

    def changed(self) -> None:
        """Something that decides who may watch changed here (an account or link from the page, a
        sign-out, a reload): every open delivery is checked again now."""
        self.deliveries.recheck()

    # --- who asks --------------------------------------------------------------------------------------
    async def principal(self, asking: Asking) -> Principal | None:
        """Who ``asking`` is, or None for nobody. Raises :class:`Refused` for bad or locked-out
        credentials."""
        if asking.transport == "unix":
            return Principal("local owner", "owner", "local")
        address = asking.address
        token, header = asking.token, asking.authorization
        if header is not None and header[:7].lower() == "bearer ":
            bearer = header[7:].strip()
            if self.metrics is not None and self.metrics.matches(bearer):
                return Principal("metrics scraper", "owner", "metrics")
            # Else a share link's token, sent the way WHEP clients send credentials (RFC 9725, 4.5).
            token, header = bearer, None
        if token is not None or header is not None:
            wait = self.limiter.retry_after(address)
            if wait:
                raise Refused(429, "too many failed attempts; try again later", wait)
        if token is not None and token.startswith(DEVICE_PREFIX):
            return await self._device(token, address)
        if token is not None:
            return await self._share(token, address)
        session = self.session(asking)
        if session is not None:
            return Principal(
                session.name, session.role, "session", cameras=session.cameras, csrf=session.csrf,
                proof=session.proof, session=asking.cookie or "",
                expires=time.time() + session.expires - time.monotonic(),
            )  # fmt: skip
        if header is not None:
            return await self._basic(asking, header)
        if not self.accounts:
            if self.public:
                return Principal("anonymous", "viewer", "anonymous")
            if self.loopback_only and self.local(asking):
                return Principal("local user", "owner", "anonymous")
        return None

    async def _share(self, token: str, address: str) -> Principal:
        try:
            try:
                share = self.shares.verify(token)
            except TokenError:
                if not await self._changed_since(self._generations()):
                    raise
                share = self.shares.verify(token)  # a link `camcast share` made just now
        except TokenError as exc:
            self.limiter.fail(address)
            log.warning("refused share link from %s: %s", address, exc)
            raise Refused(401, "this link is invalid, expired or revoked") from None
        return Principal(
            share.name, "viewer", "share", share.scope, token, share.cameras, share.recording,
            opens=self.scopes(share.scope), expires=share.expires, audio=share.audio,
        )  # fmt: skip

    async def _device(self, token: str, address: str) -> Principal:
        """A device URL's principal: its account's, for its camera's stream and picture, while the
        account is as it was when the URL was given (:mod:`camcast.security.device`)."""
        grant = self.accounts.device.verify(token)
        if grant is None:  # not signed here: a guess, counted as a wrong password is
            self.limiter.fail(address)
            log.warning("refused a forged device URL from %s", address)
            raise Refused(401, "this link is invalid, expired or revoked")
        proof = self.accounts.proof(grant.account) or ""
        if not proof or not proof.startswith(grant.proof):  # an NVR still using what it was given
            log.debug("refused a device URL of %s from %s: the account was removed or changed",
                      grant.account, address)  # fmt: skip
            raise Refused(401, "this URL is void: its account was removed or changed; ask the camera again")
        return Principal(
            grant.account, "viewer", "device", token=token, cameras=(grant.camera,), proof=proof,
            opens=frozenset(("stream", "snapshot")),
        )  # fmt: skip

    def device_url_token(self, p: Principal, camera: str) -> str | None:
        """A device token for ``p``'s account on ``camera`` (None: ``p`` is not an account)."""
        if p.via not in ("account", "device"):
            return None
        return self.accounts.device.sign(DeviceGrant(p.name, camera, p.proof[:PROOF_CHARS]))

    async def proven(self, address: str, name: str, proves: Callable[[str], str]) -> Principal | None:
        """The ``onvif`` account ``name`` if ``proves(its password)`` says ``ok`` (a digest made with
        it); each answer counts towards ``address``'s lockout. Raises :class:`Refused` for a locked-out
        address, and for an answer ``proves`` found ``stale`` or off the ``clock`` (401)."""
        wait = self.limiter.retry_after(address)
        if wait:
            raise Refused(429, "too many failed attempts; try again later", wait)
        password = self.accounts.device_password(name) if name else None
        if password is None and name and await self._changed_since(self._generations()):
            password = self.accounts.device_password(name)  # made just now
        verdict = proves(password) if password is not None else "wrong"
        if verdict == "stale":
            raise Refused(401, "the digest's nonce is old: ask again")
        if verdict == "clock":
            raise Refused(401, "the request's time is too far from this camera's: set the clock")
        if verdict != "ok":
            self.limiter.fail(address)
            log.warning("failed digest sign-in from %s", address)
            return None
        account = next((a for a in self.accounts.list() if a.name == name), None)
        if account is None:  # removed between the check and now
            return None
        self.limiter.succeed(address)
        return self._account_principal(account)

    def _account_principal(self, account: Account) -> Principal:
        proof = self.accounts.proof(account.name) or ""
        return Principal(account.name, account.role, "account", cameras=account.cameras, proof=proof)

    def session(self, asking: Asking) -> Session | None:
        """The session of ``asking``'s cookie, while it holds: its account unchanged (or, for the local
        user's, no account made since and the request still local)."""
        session = self.sessions.get(asking.cookie) if asking.cookie else None
        if session is None:
            return None
        if session.via == "local":
            holds = not self.accounts and self.loopback_only and self.local(asking)
        else:
            holds = self.accounts.proof(session.name) == session.proof
        return session if holds else None

    def open_session(self, principal: Principal) -> tuple[str, Session]:
        """A session for an owner or viewer already known (an account, or the local user)."""
        if principal.via == "account":
            proof = self.accounts.proof(principal.name) or ""
            return self.sessions.open(principal.name, principal.role, "account", principal.cameras, proof)
        return self.sessions.open(principal.name, principal.role, "local", (), "")

    @staticmethod
    def local(asking: Asking) -> bool:
        """Whether ``asking`` is this machine's own user: a loopback client naming a loopback host, not
        relayed by a proxy that was not trusted (then the real client is unknown)."""
        return (
            is_loopback_host(asking.host) and is_loopback_host(asking.address) and not asking.relayed_unknown
        )

    async def _basic(self, asking: Asking, header: str) -> Principal:
        scheme, _, encoded = header.partition(" ")
        digest = parse_digest(header) if scheme.lower() == "digest" else None
        if digest is not None:
            name, method, uri = digest.get("username", ""), asking.method, asking.uri
            account = await self.proven(
                asking.address, name, lambda password: self.http_digest.check(digest, method, uri, password)
            )
            if account is None:
                raise Refused(401, "wrong name or password (Digest needs an account made with --onvif)")
            return account
        if scheme.lower() != "basic":
            raise Refused(401, "use HTTP Basic authentication")
        if not self.passwords_allowed(asking):
            raise Refused(403, "passwords are accepted only over HTTPS")
        try:
            name, sep, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):  # ValueError: non-ASCII in the header
            name, sep, password = "", "", ""
        account = await self.password(asking.address, name, password) if sep else None
        if account is None:
            raise Refused(401, "wrong name or password")
        return account

    def passwords_allowed(self, asking: Asking) -> bool:
        """Passwords are taken over TLS, or from this computer, never in the clear over a network."""
        return self.tls or asking.secure or is_loopback_host(asking.address)

    async def password(self, address: str, name: str, password: str) -> Principal | None:
        """The account ``name`` if ``password`` is its (checked off the event loop), else None; each
        answer counts towards ``address``'s lockout, for HTTP Basic and the sign-in form alike."""
        account = await asyncio.to_thread(self.accounts.verify, name, password) if name else None
        if account is None and name and await self._changed_since(self._generations()):
            account = await asyncio.to_thread(self.accounts.verify, name, password)  # made just now
        if account is None:
            self.limiter.fail(address)
            log.warning("failed sign-in from %s", address)  # the attempted name may be a mistyped password
            return None
        self.limiter.succeed(address)
        return self._account_principal(account)

    async def check(
        self, asking: Asking, route: str, needed: str, camera: str | None = None
    ) -> Principal | None:
        """The principal allowed to use ``route`` (on ``camera``); raises :class:`Refused` otherwise."""
        if needed == "public":
            return None
        principal = await self.principal(asking)
        if principal is None:
            if self.accounts and is_loopback_host(asking.address):
                # Where the rule bites: a program on this computer that fetched without a password.
                raise Refused(401, NO_LOCAL_ANONYMOUS)
            raise Refused(401, "sign in to watch this camera")
        if not principal.may(route, needed, camera):
            if principal.via == "anonymous" and principal.role == "viewer":
                raise Refused(401, "this needs the owner's account")
            raise Refused(403, "not allowed for this account or link")
        return principal
