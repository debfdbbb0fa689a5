"""The event service (``tev``): camcast's motion and sound events as ONVIF's topics, to PullPoint
subscribers and to consumers of base notification (``Subscribe``).

An event's start and end are property changes (``Changed``) of two motion topics, the one cameras
raise (``tns1:VideoSource/MotionAlarm``, ``State``) and the one analytics raise
(``tns1:RuleEngine/CellMotionDetector/Motion``, ``IsMotion``); a sound event of
``tns1:AudioAnalytics/Audio/DetectedSound`` (``IsSoundDetected``). A new subscription first gets each
topic's state now (``Initialized``), as the standard asks. Events reach :meth:`Events.tell` from the
motion runner's listeners, on the event loop.

Subscriptions are bounded: at most :data:`MAX_SUBSCRIPTIONS` per camera, each ending at its
termination time unless renewed (at most :data:`LONGEST` ahead), each holding at most
:data:`QUEUE` messages (the oldest go first). Each belongs to the account that made it: removing the
account (or changing its password) ends its subscriptions at once, and their pending pulls with them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import re
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from camcast.motion.events import Event
from camcast.onvif.context import VIDEO_SOURCE, VIDEO_SOURCE_CONFIG, Device
from camcast.onvif.soap import Fault, Markup, Request, el

log = logging.getLogger(__name__)

MAX_SUBSCRIPTIONS = 16
QUEUE = 100
DEFAULT_LIFE = 60.0
LONGEST = 3600.0
SHORTEST = 10.0
#: The longest a PullMessages waits for a message.
LONGEST_PULL = 60.0
CONCRETE = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"

MOTION_ALARM = "tns1:VideoSource/MotionAlarm"
CELL_MOTION = "tns1:RuleEngine/CellMotionDetector/Motion"
SOUND = "tns1:AudioAnalytics/Audio/DetectedSound"


@dataclass(frozen=True)
class Topic:
    name: str
    source: tuple[tuple[str, str], ...]
    data: str
    kind: str  # the camcast event kind it carries


TOPICS = (
    Topic(MOTION_ALARM, (("Source", VIDEO_SOURCE),), "State", "motion"),
    Topic(CELL_MOTION, (("VideoSourceConfigurationToken", VIDEO_SOURCE_CONFIG),
                        ("VideoAnalyticsConfigurationToken", "motion"), ("Rule", "motion")),
          "IsMotion", "motion"),
    Topic(SOUND, (("Source", VIDEO_SOURCE),), "IsSoundDetected", "sound"),
)  # fmt: skip


def service_capabilities(tag: str = "tev:Capabilities") -> Markup:
    return el(
        tag, WSSubscriptionPolicySupport=False, WSPullPointSupport=True,
        WSPausableSubscriptionManagerInterfaceSupport=False, MaxNotificationProducers=MAX_SUBSCRIPTIONS,
        MaxPullPoints=MAX_SUBSCRIPTIONS, PersistentNotificationStorage=False,
    )  # fmt: skip


def event_properties(audio: bool) -> Markup:
    def described(topic: Topic) -> Markup:
        items = [
            el("tt:SimpleItemDescription", Name=name, Type="tt:ReferenceToken") for name, _ in topic.source
        ]
        description = el(
            "tt:MessageDescription",
            el("tt:Source", *items),
            el("tt:Data", el("tt:SimpleItemDescription", Name=topic.data, Type="xs:boolean")),
            IsProperty=True,
        )
        *path, leaf = topic.name.removeprefix("tns1:").split("/")
        inner = el(f"tns1:{leaf}", description, **{"wstop:topic": True})
        for part in reversed(path):
            inner = el(f"tns1:{part}", inner)
        return inner

    topics = [described(t) for t in TOPICS if audio or t.kind != "sound"]
    return el(
        "tev:GetEventPropertiesResponse",
        el("tev:TopicNamespaceLocation", "http://www.onvif.org/onvif/ver10/topics/topicns.xml"),
        el("wsnt:FixedTopicSet", True),
        el("wstop:TopicSet", *topics),
        el("wsnt:TopicExpressionDialect", "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet"),
        el("wsnt:TopicExpressionDialect", "http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete"),
        el(
            "tev:MessageContentFilterDialect",
            "http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter",
        ),
        el("tev:MessageContentSchemaLocation", "http://www.onvif.org/onvif/ver10/schema/onvif.xsd"),
    )


def utc(when: float) -> str:
    """xsd:dateTime in UTC, to the millisecond (an event's start is told to the millisecond)."""
    moment = datetime.datetime.fromtimestamp(when, datetime.UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def parse_termination(text: str | None, now: float) -> float:
    """When a subscription asked to end at ``text`` (an xsd:duration such as PT60S, or a time) ends,
    bounded to :data:`SHORTEST`..:data:`LONGEST` from ``now``."""
    if not text:
        return now + DEFAULT_LIFE
    seconds = duration(text)
    if seconds is not None:
        end = now + seconds
    else:
        from camcast.security.digest import parse_created

        when = parse_created(text)
        if when is None:
            raise Fault("Sender", ("ter:InvalidArgVal", "wsntw:UnacceptableInitialTerminationTimeFault"),
                        f"not a duration or a time: {text[:40]!r}")  # fmt: skip
        end = when
    return min(max(end, now + SHORTEST), now + LONGEST)


def duration(text: str) -> float | None:
    """Seconds of an xsd:duration of days, hours, minutes and seconds (``PT1M30S``), or None."""
    match = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", text.strip())
    if match is None or not any(match.groups()):
        return None
    days, hours, minutes, seconds = (float(g or 0) for g in match.groups())
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


def _topic_filter(request: Request) -> frozenset[str] | None:
    """The topics a subscription's Filter asks for (None: every topic)."""
    expression = request.text("Filter", "TopicExpression")
    if not expression:
        return None
    wanted = {part.strip().rstrip("/.") for part in expression.split("|")}

    def matches(topic: str) -> bool:
        # A prefix of the topic's path matches it ("tns1:RuleEngine//." and "tns1:VideoSource" too).
        return any(topic == w or topic.startswith(w.rstrip("/") + "/") for w in wanted)

    return frozenset(t.name for t in TOPICS if matches(t.name))


@dataclass
class Subscription:
    id: str
    camera: str
    owner: str
    ends: float
    topics: frozenset[str] | None
    address: str  # its subscription manager's (and pull point's) URL
    producer: str
    consumer: str | None = None  # base notification: where each message is sent
    messages: deque[Markup] = field(default_factory=lambda: deque(maxlen=QUEUE))
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    ended: str = ""  # why it ended, once it has
    close: Callable[[], None] = lambda: None

    def wants(self, topic: str) -> bool:
        return self.topics is None or topic in self.topics


class Events:
    """Every camera's subscriptions, and each topic's state now."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, Subscription] = {}
        self.state: dict[tuple[str, str], bool] = {}

    def tell(self, kind: str, event: Event) -> None:
        """A motion runner's listener: an event of ``event.camera`` started or ended."""
        on = kind == "start"
        for topic in TOPICS:
            if topic.kind != event.kind or self.state.get((event.camera, topic.name), False) == on:
                continue
            self.state[(event.camera, topic.name)] = on
            for sub in list(self.subscriptions.values()):
                if sub.camera == event.camera and sub.wants(topic.name):
                    self.queue(sub, message(sub, topic, on, "Changed", event.start if on else time.time()))

    def queue(self, sub: Subscription, xml: Markup) -> None:
        sub.messages.append(xml)
        sub.arrived.set()

    def add(self, sub: Subscription, audio: bool) -> None:
        """Start ``sub``: over the bound, a fault; else it is told each topic's state now."""
        if sum(1 for s in self.subscriptions.values() if s.camera == sub.camera) >= MAX_SUBSCRIPTIONS:
            raise Fault("Receiver", ("ter:Action", "wsntw:SubscribeCreationFailedFault"),
                        f"at most {MAX_SUBSCRIPTIONS} subscriptions a camera: end one first")  # fmt: skip
        self.subscriptions[sub.id] = sub
        now = time.time()
        for topic in TOPICS:
            if (audio or topic.kind != "sound") and sub.wants(topic.name):
                on = self.state.get((sub.camera, topic.name), False)
                self.queue(sub, message(sub, topic, on, "Initialized", now))

    def end(self, sub: Subscription, why: str) -> None:
        if self.subscriptions.pop(sub.id, None) is None:
            return
        sub.ended = why
        sub.arrived.set()
        sub.close()
        log.info("ONVIF subscription %s for %s on %s ended: %s", sub.id[:8], sub.owner, sub.camera, why)

    def sweep(self, now: float) -> None:
        for sub in list(self.subscriptions.values()):
            if sub.ends < now:
                self.end(sub, "not renewed")

    def get(self, sub_id: str, owner: str) -> Subscription:
        sub = self.subscriptions.get(sub_id)
        if sub is None or not secrets.compare_digest(sub.owner, owner):
            raise Fault(
                "Sender", ("wsrf-rw:ResourceUnknownFault",), "no such subscription (it ended, or never was)"
            )
        return sub

    async def pull(self, sub: Subscription, wait: float, limit: int) -> list[Markup]:
        """Up to ``limit`` messages, waiting up to ``wait`` seconds for the first."""
        if not sub.messages:
            sub.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sub.arrived.wait(), min(wait, LONGEST_PULL))
        if sub.ended:
            raise Fault("Sender", ("wsrf-rw:ResourceUnknownFault",), f"the subscription ended: {sub.ended}")
        taken: list[Markup] = []
        while sub.messages and len(taken) < limit:
            taken.append(sub.messages.popleft())
        return taken


def message(sub: Subscription, topic: Topic, on: bool, operation: str, when: float) -> Markup:
    source = [el("tt:SimpleItem", Name=name, Value=value) for name, value in topic.source]
    return el(
        "wsnt:NotificationMessage",
        el("wsnt:SubscriptionReference", el("wsa:Address", sub.address)),
        el("wsnt:Topic", topic.name, Dialect=CONCRETE),
        el("wsnt:ProducerReference", el("wsa:Address", sub.producer)),
        el(
            "wsnt:Message",
            el(
                "tt:Message",
                el("tt:Source", *source),
                el("tt:Data", el("tt:SimpleItem", Name=topic.data, Value=on)),
                UtcTime=utc(when),
                PropertyOperation=operation,
            ),
        ),
    )


def new_subscription(
    device: Device, owner: str, request: Request, consumer: str | None = None
) -> Subscription:
    sub_id = secrets.token_urlsafe(18)
    now = time.time()
    return Subscription(
        sub_id, device.camera, owner, parse_termination(request.text("InitialTerminationTime"), now),
        _topic_filter(request), device.xaddr(f"subscription/{sub_id}"), device.xaddr("events_service"),
        consumer,
    )  # fmt: skip


def parse_pull(request: Request) -> tuple[float, int]:
    """PullMessages's Timeout (seconds) and MessageLimit."""
    timeout = duration(request.text("Timeout") or "PT10S")
    try:
        limit = int(request.text("MessageLimit") or "100")
    except ValueError:
        limit = -1
    if timeout is None or limit < 0:
        raise Fault("Sender", ("ter:InvalidArgVal",), "Timeout is a duration (PT10S), MessageLimit a number")
    return max(0.0, min(timeout, LONGEST_PULL)), max(1, min(limit, QUEUE))
