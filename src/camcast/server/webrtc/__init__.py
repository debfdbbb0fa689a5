"""WebRTC by WHEP (RFC 9725): the live picture in a browser in a tenth of a second, from one encode.

A viewer ``POST``s an SDP offer to ``/whep`` and gets the answer (201, with a ``Location`` to
``DELETE`` when done). Every peer is sent the same H.264 packets: the camera's one shared H.264
rendition (the one HLS is cut from) hands each encoded frame to a :class:`~.track.WebRtcOutput`,
which gives it to every peer's :class:`~.track.PacketTrack`; aiortc packs the packet into RTP for that
peer without encoding anything (a track may return an ``av.Packet``). So encodes per second are the
capture rate whatever the number of peers, and the encoder runs only while someone watches.

The parts, each its own module:

- :mod:`.ice`: where ICE gathers host candidates (the listening address; aiortc's default STUN server
  is never used) and the configured STUN/TURN servers; its hook into aioice is installed when the
  server starts (:func:`~.ice.install`), never by importing;
- :mod:`.offer`: the checks an SDP offer passes before aiortc reads it;
- :mod:`.track`: one peer's packets and the fan-out of one camera's frames to its peers (slow peers
  skip to the next keyframe; picture-loss requests ask the shared encoder for a keyframe);
- :mod:`.sessions`: the sessions, their cap and their ends;
- :mod:`.whep`: WHEP's HTTP side (the request checks, the answer, the DELETE).
"""
