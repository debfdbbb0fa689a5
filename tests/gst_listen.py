"""GStreamer as an RTSP client: rtspsrc plays a stream over TCP, its opusdec decoding the sound, both
tracks placed by its rtpbin (by the sender reports) and written to Matroska. Run by the system's
Python: ``python3 tests/gst_listen.py URL OUT SECONDS``. It stops once SECONDS of decoded sound have
been written (not after a time: a loaded machine may take long to start playing), ends the stream
(EOS) so the file is finished, and exits 0; 1 with GStreamer's error, 2 if nothing came in 60 s."""

import sys

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

Gst.init(None)
url, out, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
pipeline = Gst.parse_launch(
    f"rtspsrc location={url} protocols=tcp name=s matroskamux name=mux ! filesink location={out} "
    "s. ! application/x-rtp,media=video ! rtph264depay wait-for-keyframe=true ! h264parse ! queue ! mux. "
    "s. ! application/x-rtp,media=audio ! rtpopusdepay ! opusdec name=dec ! audioconvert ! "
    "audio/x-raw,format=S16LE,channels=1 ! queue ! mux."
)
loop = GLib.MainLoop()
heard = {"first": None, "ending": False, "code": 2}


def counted(_pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
    """Each decoded buffer of sound: once SECONDS of it have passed, the stream is ended."""
    buffer = info.get_buffer()
    if buffer.pts != Gst.CLOCK_TIME_NONE:
        heard["first"] = buffer.pts if heard["first"] is None else heard["first"]
        if not heard["ending"] and buffer.pts - heard["first"] >= seconds * Gst.SECOND:
            heard["ending"] = True
            GLib.idle_add(lambda: pipeline.send_event(Gst.Event.new_eos()) and False)
    return Gst.PadProbeReturn.OK


def message(_bus: Gst.Bus, msg: Gst.Message) -> None:
    if msg.type == Gst.MessageType.EOS:
        heard["code"] = 0
        loop.quit()
    elif msg.type == Gst.MessageType.ERROR:
        print(f"gstreamer: {msg.parse_error()[0].message}", file=sys.stderr)
        heard["code"] = 1
        loop.quit()


pipeline.get_by_name("dec").get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, counted)
bus = pipeline.get_bus()
bus.add_signal_watch()
bus.connect("message", message)
GLib.timeout_add_seconds(60 + int(seconds), lambda: loop.quit() or False)  # nothing came: code 2
pipeline.set_state(Gst.State.PLAYING)
loop.run()
pipeline.set_state(Gst.State.NULL)
sys.exit(heard["code"])
