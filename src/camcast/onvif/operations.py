"""Every ONVIF operation camcast answers, with the least role it needs: the one table (README: ONVIF
lists it). An operation not in it answers ``ter:ActionNotSupported``; so do the ones that would change
the computer or the encoder (:data:`REFUSED`), with a reason naming it.

Roles are camcast's: ``public`` (what ONVIF lets a client ask before it signs in: the time, to sign
its requests with, and where the services are and what they can do; and CreateProfile, answered with
the fault Synology's NVR expects), ``viewer`` (what an NVR needs: the device, its media and its
events) and ``owner`` (the accounts' names, and a Set call that changes nothing).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from camcast.onvif import device as tds
from camcast.onvif import events as tev
from camcast.onvif import media as trt
from camcast.onvif.context import VIDEO_ENCODER, VIDEO_SOURCE_CONFIG, Device
from camcast.onvif.soap import NS, Fault, Markup, Request, el, not_supported


@dataclass(frozen=True)
class Call:
    """One request being answered: the camera as a device, what was asked, who asks (their account's
    name; empty for the local user), the event service, and the subscription its URL names."""

    device: Device
    request: Request
    who: str
    events: tev.Events
    subscription: str | None
    keyframe: Callable[[], None]
    consumer: Callable[[tev.Subscription], None]


Answer = Callable[[Call], Markup | Awaitable[Markup]]


@dataclass(frozen=True)
class Operation:
    role: str
    answer: Answer


def _empty(tag: str) -> Answer:
    return lambda call: el(tag)


def _profile(call: Call) -> Markup:
    trt.check_profile(call.request)
    return el("trt:GetProfileResponse", trt.profile(call.device, "trt:Profile"))


def _source_config(call: Call) -> Markup:
    trt.check_token(call.request, "ConfigurationToken", VIDEO_SOURCE_CONFIG)
    return el("trt:GetVideoSourceConfigurationResponse",
              trt.source_configuration(call.device, "trt:Configuration"))  # fmt: skip


def _encoder_config(call: Call) -> Markup:
    trt.check_token(call.request, "ConfigurationToken", VIDEO_ENCODER)
    return el("trt:GetVideoEncoderConfigurationResponse",
              trt.encoder_configuration(call.device, "trt:Configuration"))  # fmt: skip


def _set_source(call: Call) -> Markup:
    found = call.request.find("Configuration")
    if found is None or found.get("token") != VIDEO_SOURCE_CONFIG:
        raise Fault("Sender", ("ter:InvalidArgVal", "ter:NoConfig"), "the video source is video_source")
    v = call.device.video
    bounds = call.request.find("Configuration", "Bounds")
    if bounds is not None and (bounds.get("width"), bounds.get("height")) != (str(v.width), str(v.height)):
        raise Fault(
            "Sender", ("ter:InvalidArgVal", "ter:ConfigModify"), "camcast's picture size is its own setting"
        )
    return el("trt:SetVideoSourceConfigurationResponse")


def _create_profile(call: Call) -> Markup:
    """The answer Synology's Surveillance Station adopts after (it sends CreateProfile first, then
    takes the profiles there are): the standard fault for a device whose profiles are all made."""
    raise Fault(
        "Receiver", ("ter:Action", "ter:MaxNVTProfiles"), "the camera's one profile is fixed: use main"
    )


def _synchronize(call: Call) -> Markup:
    trt.check_profile(call.request)
    call.keyframe()
    return el("trt:SetSynchronizationPointResponse")


def _create_pull_point(call: Call) -> Markup:
    sub = tev.new_subscription(call.device, call.who, call.request)
    call.events.add(sub, call.device.audio)
    return el(
        "tev:CreatePullPointSubscriptionResponse",
        el("tev:SubscriptionReference", el("wsa:Address", sub.address)),
        el("wsnt:CurrentTime", tev.utc(_now())),
        el("wsnt:TerminationTime", tev.utc(sub.ends)),
    )


def _subscribe(call: Call) -> Markup:
    consumer = call.request.text("ConsumerReference", "Address") or ""
    if not consumer.startswith(("http://", "https://")) or len(consumer) > 1024:
        raise Fault("Sender", ("ter:InvalidArgVal",), "ConsumerReference's Address is an http(s) URL")
    sub = tev.new_subscription(call.device, call.who, call.request, consumer)
    call.events.add(sub, call.device.audio)
    call.consumer(sub)
    return el(
        "wsnt:SubscribeResponse",
        el("wsnt:SubscriptionReference", el("wsa:Address", sub.address)),
        el("wsnt:CurrentTime", tev.utc(_now())),
        el("wsnt:TerminationTime", tev.utc(sub.ends)),
    )


def _subscription(call: Call) -> tev.Subscription:
    if call.subscription is None:
        raise Fault(
            "Sender", ("wsrf-rw:ResourceUnknownFault",), "send this to the subscription's own address"
        )
    return call.events.get(call.subscription, call.who)


async def _pull(call: Call) -> Markup:
    sub = _subscription(call)
    timeout, limit = tev.parse_pull(call.request)
    taken = await call.events.pull(sub, timeout, limit)
    return el(
        "tev:PullMessagesResponse",
        el("tev:CurrentTime", tev.utc(_now())),
        el("tev:TerminationTime", tev.utc(sub.ends)),
        *taken,
    )


def _renew(call: Call) -> Markup:
    sub = _subscription(call)
    sub.ends = tev.parse_termination(call.request.text("TerminationTime"), _now())
    return el(
        "wsnt:RenewResponse",
        el("wsnt:TerminationTime", tev.utc(sub.ends)),
        el("wsnt:CurrentTime", tev.utc(_now())),
    )


def _unsubscribe(call: Call) -> Markup:
    call.events.end(_subscription(call), "unsubscribed")
    return el("wsnt:UnsubscribeResponse")


def _sync_point(call: Call) -> Markup:
    sub = _subscription(call)
    for topic in tev.TOPICS:
        if (call.device.audio or topic.kind != "sound") and sub.wants(topic.name):
            on = call.events.state.get((sub.camera, topic.name), False)
            call.events.queue(sub, tev.message(sub, topic, on, "Initialized", _now()))
    return el("tev:SetSynchronizationPointResponse")


def _now() -> float:
    return time.time()


def _in(tag: str, part: Callable[[Call], Markup]) -> Answer:
    """An answer of one part in its response element."""
    return lambda call: el(tag, part(call))


def _services(call: Call) -> Markup:
    return tds.services(call.device, call.request.text("IncludeCapability") == "true")


def _capabilities(call: Call) -> Markup:
    return tds.capabilities(call.device, call.request.text("Category") or "All")


D, M, E, W = NS["tds"], NS["trt"], NS["tev"], NS["wsnt"]
_CONFIGS = "trt:Configurations"
OPERATIONS: dict[tuple[str, str], Operation] = {
    (D, "GetSystemDateAndTime"): Operation("public", lambda call: tds.date_and_time()),
    (D, "GetCapabilities"): Operation("public", _capabilities),
    (D, "GetServices"): Operation("public", _services),
    (D, "GetServiceCapabilities"): Operation(
        "public", _in("tds:GetServiceCapabilitiesResponse", lambda c: tds.service_capabilities(c.device))),
    (D, "GetDeviceInformation"): Operation("viewer", lambda c: tds.device_information(c.device)),
    # These read /sys, /proc or /etc: in a thread, never on the event loop.
    (D, "GetNetworkInterfaces"): Operation(
        "viewer", lambda c: asyncio.to_thread(tds.network_interfaces, c.device)),
    (D, "GetScopes"): Operation("viewer", lambda c: tds.scopes(c.device)),
    (D, "GetHostname"): Operation("viewer", lambda c: tds.hostname()),
    (D, "GetUsers"): Operation("owner", lambda c: tds.users(c.device)),
    (D, "GetNetworkProtocols"): Operation("viewer", lambda c: tds.network_protocols(c.device)),
    (D, "GetDiscoveryMode"): Operation("viewer", lambda c: tds.discovery_mode(c.device)),
    (D, "GetDNS"): Operation("viewer", lambda c: asyncio.to_thread(tds.dns)),
    (D, "GetNTP"): Operation("viewer", lambda c: tds.ntp()),
    (D, "GetNetworkDefaultGateway"): Operation("viewer", lambda c: asyncio.to_thread(tds.default_gateway)),
    (D, "GetRelayOutputs"): Operation("viewer", _empty("tds:GetRelayOutputsResponse")),
    (M, "GetServiceCapabilities"): Operation(
        "viewer", _in("trt:GetServiceCapabilitiesResponse", lambda c: trt.service_capabilities())),
    (M, "GetProfiles"): Operation("viewer", _in("trt:GetProfilesResponse", lambda c: trt.profile(c.device))),
    (M, "GetProfile"): Operation("viewer", _profile),
    (M, "GetVideoSources"): Operation(
        "viewer", _in("trt:GetVideoSourcesResponse", lambda c: trt.video_source(c.device))),
    (M, "GetVideoSourceConfigurations"): Operation("viewer", _in(
        "trt:GetVideoSourceConfigurationsResponse", lambda c: trt.source_configuration(c.device, _CONFIGS))),
    (M, "GetCompatibleVideoSourceConfigurations"): Operation("viewer", _in(
        "trt:GetCompatibleVideoSourceConfigurationsResponse",
        lambda c: trt.source_configuration(c.device, _CONFIGS))),
    (M, "GetVideoSourceConfiguration"): Operation("viewer", _source_config),
    (M, "GetVideoSourceConfigurationOptions"): Operation("viewer", lambda c: trt.source_options(c.device)),
    (M, "GetVideoEncoderConfigurations"): Operation("viewer", _in(
        "trt:GetVideoEncoderConfigurationsResponse",
        lambda c: trt.encoder_configuration(c.device, _CONFIGS))),
    (M, "GetCompatibleVideoEncoderConfigurations"): Operation("viewer", _in(
        "trt:GetCompatibleVideoEncoderConfigurationsResponse",
        lambda c: trt.encoder_configuration(c.device, _CONFIGS))),
    (M, "GetVideoEncoderConfiguration"): Operation("viewer", _encoder_config),
    (M, "GetVideoEncoderConfigurationOptions"): Operation("viewer", lambda c: trt.encoder_options(c.device)),
    (M, "GetGuaranteedNumberOfVideoEncoderInstances"): Operation("viewer", lambda c: el(
        "trt:GetGuaranteedNumberOfVideoEncoderInstancesResponse", el("trt:TotalNumber", 1),
        el("trt:H264", 1))),
    (M, "GetStreamUri"): Operation("viewer", lambda c: trt.stream_uri(c.device, c.request)),
    (M, "GetSnapshotUri"): Operation("viewer", lambda c: trt.snapshot_uri(c.device, c.request)),
    (M, "SetVideoEncoderConfiguration"): Operation("owner", lambda c: trt.set_encoder(c.device, c.request)),
    (M, "SetVideoSourceConfiguration"): Operation("owner", _set_source),
    (M, "CreateProfile"): Operation("public", _create_profile),
    (M, "SetSynchronizationPoint"): Operation("viewer", _synchronize),
    (M, "GetAudioSources"): Operation("viewer", _empty("trt:GetAudioSourcesResponse")),
    (M, "GetAudioSourceConfigurations"): Operation(
        "viewer", _empty("trt:GetAudioSourceConfigurationsResponse")),
    (M, "GetAudioEncoderConfigurations"): Operation(
        "viewer", _empty("trt:GetAudioEncoderConfigurationsResponse")),
    (M, "GetAudioOutputs"): Operation("viewer", _empty("trt:GetAudioOutputsResponse")),
    (M, "GetVideoAnalyticsConfigurations"): Operation(
        "viewer", _empty("trt:GetVideoAnalyticsConfigurationsResponse")),
    (M, "GetMetadataConfigurations"): Operation("viewer", _empty("trt:GetMetadataConfigurationsResponse")),
    (M, "GetOSDs"): Operation("viewer", _empty("trt:GetOSDsResponse")),
    (E, "GetServiceCapabilities"): Operation(
        "viewer", _in("tev:GetServiceCapabilitiesResponse", lambda c: tev.service_capabilities())),
    (E, "GetEventProperties"): Operation("viewer", lambda c: tev.event_properties(c.device.audio)),
    (E, "CreatePullPointSubscription"): Operation("viewer", _create_pull_point),
    (E, "PullMessages"): Operation("viewer", _pull),
    (E, "SetSynchronizationPoint"): Operation("viewer", _sync_point),
    (W, "Subscribe"): Operation("viewer", _subscribe),
    (W, "Renew"): Operation("viewer", _renew),
    (W, "Unsubscribe"): Operation("viewer", _unsubscribe),
}  # fmt: skip

#: Calls that would change what camcast does not let a client change over ONVIF (the computer's
#: clock, name, network and users, the firmware, the profiles): each answers ActionNotSupported.
REFUSED = frozenset({
    "SetSystemDateAndTime", "SetHostname", "SetHostnameFromDHCP", "SetScopes", "AddScopes", "RemoveScopes",
    "SetNTP", "SetDNS", "SetNetworkInterfaces", "SetNetworkProtocols", "SetNetworkDefaultGateway",
    "SetDiscoveryMode", "SystemReboot", "SetSystemFactoryDefault", "UpgradeSystemFirmware", "CreateUsers",
    "DeleteUsers", "SetUser", "SetRelayOutputSettings", "SetRelayOutputState",
    "DeleteProfile",
    "AddVideoEncoderConfiguration", "RemoveVideoEncoderConfiguration", "AddVideoSourceConfiguration",
    "RemoveVideoSourceConfiguration", "AddAudioSourceConfiguration", "AddAudioEncoderConfiguration",
    "AddPTZConfiguration", "AddVideoAnalyticsConfiguration", "AddMetadataConfiguration",
    "StartMulticastStreaming", "StopMulticastStreaming",
})  # fmt: skip


def lookup(request: Request) -> Operation:
    """The operation ``request`` asks for; a fault naming it when camcast does not answer it."""
    found = OPERATIONS.get((request.namespace, request.name))
    if found is not None:
        return found
    if request.name in REFUSED:
        raise not_supported(f"{request.name} (camcast's own settings decide this)")
    raise not_supported(request.name[:60])
