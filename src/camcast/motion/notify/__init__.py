"""Who is told of motion events: a webhook, a command, an MQTT broker (Home Assistant). Each is a
consumer of events with its own bounded outbox: a slow or dead receiver loses its oldest messages,
never holds up detection or the camera. Each notifier has one way of sending a message, which the
settings page's Test button uses too (:mod:`camcast.motion.notify.trial`)."""


class NotifyFailed(Exception):
    """A notifier's message did not get through: the message says how, in one line. ``final``: the
    receiver refused this message, and trying again will not help."""

    def __init__(self, message: str, final: bool = False) -> None:
        super().__init__(message)
        self.final = final
