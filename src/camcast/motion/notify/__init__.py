"""Who is told of motion events: a webhook, a command, an MQTT broker (Home Assistant). Each is a
consumer of events with its own bounded outbox: a slow or dead receiver loses its oldest messages,
never holds up detection or the camera."""
