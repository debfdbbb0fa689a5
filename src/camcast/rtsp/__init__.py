"""RTSP: camcast as the camera an NVR, Home Assistant or Frigate expects, and pushing to a media server.

:mod:`~camcast.rtsp.protocol` parses RTSP 1.0 (RFC 2326) without sockets, as h11 does HTTP;
:mod:`~camcast.rtsp.rtp` turns each H.264 frame into RTP payloads once (RFC 6184), for every client;
:mod:`~camcast.rtsp.stream` is one camera's RTP fan-out; :mod:`~camcast.rtsp.server` the asyncio
server, its sessions and transports (TCP interleaved, UDP); :mod:`~camcast.rtsp.push` publishes to
another server (RTSP ANNOUNCE/RECORD, RTMP) through FFmpeg's muxers.
"""
