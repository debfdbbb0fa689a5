"""An RTSP camera with sound: GStreamer's RTSP server (gst-rtsp-server through Debian's python3-gi)
serving a file's H.264 and AAC, as a camera with a microphone would. Run by the system's Python:
``python3 tests/gst_camera.py PORT FILE``; it prints ``ready`` once it listens on 127.0.0.1:PORT, at
``/cam``."""

import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

Gst.init(None)
port, path = sys.argv[1], sys.argv[2]
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
# identity sync=true plays the file as a camera sends: in real time, from the moment a client plays it
# (without it, the media's preroll, a second of pictures and sound, goes out in a burst).
factory.set_launch(
    f'( filesrc location="{path}" ! qtdemux name=d '
    "d.video_0 ! queue ! identity sync=true ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 "
    "d.audio_0 ! queue ! identity sync=true ! aacparse ! rtpmp4gpay name=pay1 pt=97 )"
)
factory.set_shared(True)
server.get_mount_points().add_factory("/cam", factory)
server.attach(None)
print("ready", flush=True)
GLib.MainLoop().run()
