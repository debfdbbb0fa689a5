"""Motion: what moved in a camera's picture, the events it makes, and who is told.

:mod:`~camcast.motion.detector` (pictures in, motion out; no I/O) and :mod:`~camcast.motion.events`
(an event's life, kept as JSON lines) are pure; :mod:`~camcast.motion.watcher` reads pictures from a
camera's hub like any consumer and runs them in a worker thread; :mod:`~camcast.motion.notify` tells
the owner (webhook, command, MQTT), each a consumer of events.
"""
