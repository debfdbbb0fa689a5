"""SOAP 1.2 as ONVIF speaks it: a request read by a hardened parser, answers and faults written.

A request is parsed by defusedxml with no DTD allowed (no entity expansion, no external entity), after
its size was bounded by the caller. What it asks is its Body's first element (namespace and name);
its WS-Security ``UsernameToken``, when it carries one, is read from the Header. Answers are written
as text from :func:`el`, which escapes every value: no value a client sent is ever markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape, quoteattr

import defusedxml.ElementTree as SafeXml
from defusedxml import DefusedXmlException

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
NS = {
    "s": SOAP12,
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tev": "http://www.onvif.org/ver10/events/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
    "ter": "http://www.onvif.org/ver10/error",
    "wsnt": "http://docs.oasis-open.org/wsn/b-2",
    "wsntw": "http://docs.oasis-open.org/wsn/bw-2",
    "wsrf-rw": "http://docs.oasis-open.org/wsrf/rw-2",
    "wstop": "http://docs.oasis-open.org/wsn/t-1",
    "wsa": "http://www.w3.org/2005/08/addressing",
    "tns1": "http://www.onvif.org/ver10/topics",
    "wsse": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd",
    "wsu": "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
}
_DIGEST_TYPE = "#PasswordDigest"
#: The largest request read; ONVIF's requests are a few kB.
MAX_REQUEST = 64 * 1024


class Markup(str):
    """Text that is already XML (made by :func:`el`), put into an answer as it is."""


def el(tag: str, *content: Any, **attrs: Any) -> Markup:
    """``<tag attrs>content</tag>``: text and numbers escaped, booleans as xsd's, Markup as it is, None
    and empty parts left out (an attribute with a prefix: ``**{"xml:lang": "en"}``)."""
    shown = "".join(f" {name}={quoteattr(_text(v))}" for name, v in attrs.items() if v is not None)
    inner = "".join(c if isinstance(c, Markup) else escape(_text(c)) for c in content if c is not None)
    return Markup(f"<{tag}{shown}>{inner}</{tag}>" if inner else f"<{tag}{shown}/>")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def envelope(body: str, header: str = "") -> bytes:
    """A SOAP 1.2 envelope around ``body`` with every namespace ONVIF's answers use declared on it
    (a topic's ``tns1:`` prefix is read from the text by the client)."""
    declared = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in NS.items())
    head = f"<s:Header>{header}</s:Header>" if header else ""
    xml = f"<s:Envelope {declared}>{head}<s:Body>{body}</s:Body></s:Envelope>"
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + xml.encode()


class Fault(Exception):
    """A SOAP fault: ``code`` ``Sender`` (the request is wrong: HTTP 400) or ``Receiver`` (HTTP 500),
    ONVIF's ``subcodes`` (``ter:...``), one line of ``reason``, and the HTTP ``status`` to answer."""

    def __init__(self, code: str, subcodes: tuple[str, ...], reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.subcodes = subcodes
        self.reason = reason
        self.status = status or (400 if code in ("Sender", "VersionMismatch", "MustUnderstand") else 500)

    def body(self) -> Markup:
        sub: Markup | None = None
        for code in reversed(self.subcodes):
            sub = el("s:Subcode", el("s:Value", code), sub)
        return el(
            "s:Fault",
            el("s:Code", el("s:Value", f"s:{self.code}"), sub),
            el("s:Reason", el("s:Text", self.reason, **{"xml:lang": "en"})),
        )


def not_supported(what: str) -> Fault:
    return Fault("Receiver", ("ter:ActionNotSupported",), f"{what} is not supported by camcast")


def not_authorized(reason: str = "sign in: the operation needs an account") -> Fault:
    return Fault("Sender", ("ter:NotAuthorized",), reason)


@dataclass(frozen=True)
class UsernameToken:
    """A WS-Security UsernameToken: ``digest`` says its password is a PasswordDigest (with ``nonce``
    and ``created``), else the password is sent as text."""

    username: str
    password: str
    digest: bool
    nonce: str = ""
    created: str = ""


@dataclass(frozen=True)
class Request:
    """A parsed SOAP request: its operation (``namespace``, ``name``), the operation's element, and the
    UsernameToken it carries."""

    namespace: str
    name: str
    body: Element
    token: UsernameToken | None

    def text(self, *path: str) -> str | None:
        """The text of the element at ``path`` (local names, any namespace) under the operation."""
        node: Element | None = self.body
        for step in path:
            node = next((c for c in node if _local(c.tag) == step), None) if node is not None else None
        return (node.text or "").strip() if node is not None else None

    def find(self, *path: str) -> Element | None:
        node: Element | None = self.body
        for step in path:
            node = next((c for c in node if _local(c.tag) == step), None) if node is not None else None
        return node


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _namespace(tag: str) -> str:
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def parse(data: bytes) -> Request:
    """The request in ``data``; :class:`Fault` for anything that is not a SOAP 1.2 request."""
    try:
        root = SafeXml.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise Fault("Sender", ("ter:WellFormed",), "DTDs and entities are refused") from None
    except (ParseError, ValueError):
        raise Fault("Sender", ("ter:WellFormed",), "the request is not well-formed XML") from None
    if _local(root.tag) != "Envelope":
        raise Fault("Sender", ("ter:WellFormed",), "not a SOAP envelope")
    if _namespace(root.tag) != SOAP12:
        raise Fault("VersionMismatch", (), "ONVIF speaks SOAP 1.2 (the envelope's namespace is wrong)")
    body = root.find(f"{{{SOAP12}}}Body")
    operation = next(iter(body), None) if body is not None else None
    if operation is None:
        raise Fault("Sender", ("ter:WellFormed",), "the SOAP body is empty")
    return Request(_namespace(operation.tag), _local(operation.tag), operation, _token(root))


def _token(root: Element) -> UsernameToken | None:
    header = root.find(f"{{{SOAP12}}}Header")
    wsse, wsu = NS["wsse"], NS["wsu"]
    token = header.find(f"{{{wsse}}}Security/{{{wsse}}}UsernameToken") if header is not None else None
    if token is None:
        return None
    password = token.find(f"{{{wsse}}}Password")
    kind = password.get("Type", "") if password is not None else ""
    return UsernameToken(
        (token.findtext(f"{{{wsse}}}Username") or "").strip(),
        (password.text or "").strip() if password is not None else "",
        kind.endswith(_DIGEST_TYPE),
        (token.findtext(f"{{{wsse}}}Nonce") or "").strip(),
        (token.findtext(f"{{{wsu}}}Created") or "").strip(),
    )
