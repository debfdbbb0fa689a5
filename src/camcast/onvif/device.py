"""The device service (``tds``): what the camera is, what it answers, where its services are.

Everything here reads; nothing changes the computer camcast runs on (its clock, host name, network,
users or firmware): such calls answer ``ter:ActionNotSupported`` (:mod:`camcast.onvif.operations`).
"""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path

from camcast.net import ipv4_of
from camcast.onvif import events, media
from camcast.onvif.context import Device
from camcast.onvif.soap import Fault, Markup, el

TDS = "tds"
#: ONVIF's version this implements (Profile S on the 2.x core).
VERSION = (2, 60)


def date_and_time() -> Markup:
    now = time.time()
    utc, local = time.gmtime(now), time.localtime(now)
    west = time.timezone if not local.tm_isdst else time.altzone
    name = "".join(c for c in (time.tzname[local.tm_isdst] or "") if c.isalpha())
    name = name if len(name) >= 3 else "LST"
    hours, minutes = divmod(abs(west) // 60, 60)  # POSIX counts hours west of Greenwich
    posix = f"{name}{'-' if west < 0 else ''}{hours}" + (f":{minutes:02d}" if minutes else "")
    return el(
        "tds:GetSystemDateAndTimeResponse",
        el(
            "tds:SystemDateAndTime",
            el("tt:DateTimeType", "Manual"),
            el("tt:DaylightSavings", bool(local.tm_isdst)),
            el("tt:TimeZone", el("tt:TZ", posix)),
            el("tt:UTCDateTime", *_date_time(utc)),
            el("tt:LocalDateTime", *_date_time(local)),
        ),
    )


def _date_time(t: time.struct_time) -> tuple[Markup, Markup]:
    return (
        el("tt:Time", el("tt:Hour", t.tm_hour), el("tt:Minute", t.tm_min), el("tt:Second", t.tm_sec)),
        el("tt:Date", el("tt:Year", t.tm_year), el("tt:Month", t.tm_mon), el("tt:Day", t.tm_mday)),
    )


def capabilities(device: Device, category: str) -> Markup:
    parts = {
        "Device": el(
            "tt:Device",
            el("tt:XAddr", device.xaddr("device_service")),
            el("tt:Network", el("tt:IPFilter", False), el("tt:ZeroConfiguration", False),
               el("tt:IPVersion6", True), el("tt:DynDNS", False)),
            el("tt:System", el("tt:DiscoveryResolve", device.discovery),
               el("tt:DiscoveryBye", device.discovery),
               el("tt:RemoteDiscovery", False), el("tt:SystemBackup", False), el("tt:SystemLogging", False),
               el("tt:FirmwareUpgrade", False),
               el("tt:SupportedVersions", el("tt:Major", VERSION[0]), el("tt:Minor", VERSION[1]))),
            el("tt:IO", el("tt:InputConnectors", 0), el("tt:RelayOutputs", 0)),
            el("tt:Security", el("tt:TLS1.1", False), el("tt:TLS1.2", device.tls),
               el("tt:OnboardKeyGeneration", False), el("tt:AccessPolicyConfig", False),
               el("tt:X.509Token", False), el("tt:SAMLToken", False), el("tt:KerberosToken", False),
               el("tt:RELToken", False)),
        ),
        "Events": el(
            "tt:Events",
            el("tt:XAddr", device.xaddr("events_service")),
            el("tt:WSSubscriptionPolicySupport", False),
            el("tt:WSPullPointSupport", True),
            el("tt:WSPausableSubscriptionManagerInterfaceSupport", False),
        ),
        "Media": el(
            "tt:Media",
            el("tt:XAddr", device.xaddr("media_service")),
            el("tt:StreamingCapabilities", el("tt:RTPMulticast", False), el("tt:RTP_TCP", True),
               el("tt:RTP_RTSP_TCP", True)),
        ),
    }  # fmt: skip
    if category not in ("", "All", *parts):
        raise Fault("Receiver", ("ter:ActionNotSupported", "ter:NoSuchService"),
                    f"camcast has no {category} service")  # fmt: skip
    chosen = [xml for name, xml in parts.items() if category in ("", "All", name)]
    return el("tds:GetCapabilitiesResponse", el("tds:Capabilities", *chosen))


SERVICES = (
    ("http://www.onvif.org/ver10/device/wsdl", "device_service"),
    ("http://www.onvif.org/ver10/media/wsdl", "media_service"),
    ("http://www.onvif.org/ver10/events/wsdl", "events_service"),
)


def services(device: Device, with_capabilities: bool) -> Markup:
    own = {
        "device_service": lambda: service_capabilities(device, "tds:Capabilities"),
        "media_service": lambda: media.service_capabilities("trt:Capabilities"),
        "events_service": lambda: events.service_capabilities("tev:Capabilities"),
    }
    listed = [
        el(
            "tds:Service",
            el("tds:Namespace", namespace),
            el("tds:XAddr", device.xaddr(path)),
            el("tds:Capabilities", own[path]()) if with_capabilities else None,
            el("tds:Version", el("tt:Major", VERSION[0]), el("tt:Minor", VERSION[1])),
        )
        for namespace, path in SERVICES
    ]
    return el("tds:GetServicesResponse", *listed)


def service_capabilities(device: Device, tag: str = "tds:Capabilities") -> Markup:
    return el(
        tag,
        el("tds:Network", IPFilter=False, ZeroConfiguration=False, IPVersion6=True, DynDNS=False,
           Dot11Configuration=False, HostnameFromDHCP=False, NTP=0),
        el("tds:Security", **{"TLS1.0": False, "TLS1.1": False, "TLS1.2": device.tls},
           OnboardKeyGeneration=False, AccessPolicyConfig=False, DefaultAccessPolicy=False, Dot1X=False,
           RemoteUserHandling=False, **{"X.509Token": False}, SAMLToken=False, KerberosToken=False,
           UsernameToken=True, HttpDigest=True, RELToken=False),
        el("tds:System", DiscoveryResolve=device.discovery, DiscoveryBye=device.discovery,
           RemoteDiscovery=False, SystemBackup=False, SystemLogging=False, FirmwareUpgrade=False,
           HttpFirmwareUpgrade=False, HttpSystemBackup=False, HttpSystemLogging=False,
           HttpSupportInformation=False),
    )  # fmt: skip


def device_information(device: Device) -> Markup:
    return el(
        "tds:GetDeviceInformationResponse",
        el("tds:Manufacturer", "camcast"),
        el("tds:Model", device.title or device.camera),
        el("tds:FirmwareVersion", device.firmware),
        el("tds:SerialNumber", device.serial),
        el("tds:HardwareId", device.hardware),
    )


def network_interfaces(device: Device) -> Markup:
    """The computer's interfaces with their addresses, each with the camera's own hardware address
    (:meth:`camcast.onvif.context.Identity.mac`): the address NVRs know the camera by."""
    listed = []
    for index, name in socket.if_nameindex():
        if name == "lo":
            continue
        mtu = _read(Path("/sys/class/net", name, "mtu"))
        address = ipv4_of(name)
        ipv4 = (
            el("tt:IPv4", el("tt:Enabled", True), el("tt:Config",
               el("tt:Manual", el("tt:Address", address[0]), el("tt:PrefixLength", address[1])),
               el("tt:DHCP", False)))
            if address else None
        )  # fmt: skip
        listed.append(
            el(
                "tds:NetworkInterfaces",
                el("tt:Enabled", True),
                el("tt:Info", el("tt:Name", name), el("tt:HwAddress", device.mac),
                   el("tt:MTU", mtu or None)),
                ipv4,
                token=f"eth{index}",
            )
        )  # fmt: skip
    return el("tds:GetNetworkInterfacesResponse", *listed)


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def scopes(device: Device) -> Markup:
    items = [
        el("tds:Scopes", el("tt:ScopeDef", "Fixed"), el("tt:ScopeItem", scope)) for scope in device.scopes
    ]
    return el("tds:GetScopesResponse", *items)


def hostname() -> Markup:
    return el(
        "tds:GetHostnameResponse",
        el("tds:HostnameInformation", el("tt:FromDHCP", False), el("tt:Name", socket.gethostname())),
    )


def users(device: Device) -> Markup:
    """The accounts' names and levels: never a password."""
    levels = {"owner": "Administrator", "viewer": "User"}
    listed = [
        el("tds:User", el("tt:Username", name), el("tt:UserLevel", levels.get(role, "User")))
        for name, role in device.users()
    ]
    return el("tds:GetUsersResponse", *listed)


def network_protocols(device: Device) -> Markup:
    def protocol(name: str, enabled: bool, port: int) -> Markup:
        return el("tds:NetworkProtocols", el("tt:Name", name), el("tt:Enabled", enabled), el("tt:Port", port))

    return el(
        "tds:GetNetworkProtocolsResponse",
        protocol("HTTP", not device.tls, device.http_port),
        protocol("HTTPS", device.tls, device.http_port),
        protocol("RTSP", True, device.rtsp_port),
    )


def discovery_mode(device: Device) -> Markup:
    mode = "Discoverable" if device.discovery else "NonDiscoverable"
    return el("tds:GetDiscoveryModeResponse", el("tds:DiscoveryMode", mode))


def dns() -> Markup:
    servers = []
    for line in _read(Path("/etc/resolv.conf")).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "nameserver":
            kind = "IPv6" if ":" in parts[1] else "IPv4"
            servers.append(el("tt:DNSManual", el("tt:Type", kind), el(f"tt:{kind}Address", parts[1])))
    return el("tds:GetDNSResponse", el("tds:DNSInformation", el("tt:FromDHCP", False), *servers))


def ntp() -> Markup:
    return el("tds:GetNTPResponse", el("tds:NTPInformation", el("tt:FromDHCP", False)))


def default_gateway() -> Markup:
    gateways = []
    for line in _read(Path("/proc/net/route")).splitlines()[1:]:
        fields = line.split()
        if len(fields) > 2 and fields[1] == "00000000" and fields[2] != "00000000":
            gateways.append(el("tt:IPv4Address", socket.inet_ntoa(struct.pack("<L", int(fields[2], 16)))))
    return el("tds:GetNetworkDefaultGatewayResponse", el("tds:NetworkGateway", *gateways))
