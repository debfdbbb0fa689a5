"""``/hls/``: Low-Latency HLS from the server, cut from the camera's one shared H.264 encode.

The encoder runs only while someone watches: the first HLS request attaches the segmenter to the
camera's H.264 rendition (asking for a keyframe, so the video starts at once), and when no HLS
request has come for :data:`IDLE_DETACH` seconds it is detached again and the encoder idles. Every
HLS request of a viewer counts toward one viewer session (the viewer log's idle rule), not one log
line per segment.

Playlist reloads may block (``_HLS_msn``/``_HLS_part``, Apple's LL-HLS) and so may a request for the
part the preload hint names: each waits at most a few target durations, then gets a 503 the player
retries. The playlist may be cached for a second and everything else for a year, since every
segment, part and init URI names its bytes for good (see :mod:`camcast.hls.segmenter`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from aiohttp import web

from camcast.audio.encode import AudioRendition
from camcast.encode.h264 import H264Encoder
from camcast.encode.rendition import Rendition
from camcast.hls import names
from camcast.hls.playlist import MultivariantPlaylist, Variant
from camcast.hls.segmenter import Segmenter

#: Seconds without an HLS request before the encoder is let go: longer than any player's reload
#: interval (a segment, at most 10 s), so a paused tab that resumes soon finds its stream.
IDLE_DETACH = 30.0
#: LL-HLS part length in seconds: about 200 ms, as Apple's examples and hls.js's defaults assume.
PART_TARGET = 0.2
#: Seconds the first playlist request waits for the first segment (a keyframe and a segment's frames).
FIRST_SEGMENT_WAIT = 15.0

PLAYLIST_TYPE = "application/vnd.apple.mpegurl"
#: Segments, parts and init segments never change under their name.
IMMUTABLE = "public, max-age=31536000, immutable"


class HlsOutput:
    """One rendition's HLS: the segmenter, attached to its H.264 rendition (and with ``sound``, to the
    camera's AAC) while anyone watches. ``uri`` names its media playlist in a multivariant playlist."""

    def __init__(
        self, rendition: Rendition, window: int, uri: str = "index.m3u8", sound: AudioRendition | None = None
    ) -> None:
        assert isinstance(rendition.encoder, H264Encoder), "HLS is cut from an H.264 rendition"
        self.uri = uri
        self.rendition = rendition
        self.encoder = rendition.encoder
        self.sound = sound
        self.segmenter = Segmenter(
            self.encoder.keyframe_every, PART_TARGET, window, need_keyframe=self.encoder.request_keyframe,
            sound=sound.format if sound is not None else None,
        )  # fmt: skip
        self.attached = False
        self.last_request = 0.0

    def touch(self) -> None:
        """A request came: keep (or start) the video."""
        self.last_request = time.monotonic()
        if not self.attached:
            self.attached = True
            self.rendition.add_listener(self.segmenter.push)
            if self.sound is not None:
                self.sound.add_listener(self.segmenter.push_sound)
            self.encoder.request_keyframe()

    def sweep(self, now: float) -> None:
        """Let the encoder go when nobody has asked for HLS for a while."""
        if self.attached and now - self.last_request > IDLE_DETACH:
            self.attached = False
            self.rendition.remove_listener(self.segmenter.push)
            if self.sound is not None:
                self.sound.remove_listener(self.segmenter.push_sound)
            self.segmenter.interrupt()

    @property
    def target(self) -> float:
        return self.segmenter.segment_target

    async def playlist(self, request: web.Request, query: str = "") -> web.Response:
        """The playlist, after waiting for what ``_HLS_msn``/``_HLS_part`` ask for; ``query`` follows
        every URI in it (a share link's token, so a player given the link fetches every file)."""
        seg = self.segmenter
        msn, part = _blocking_query(request)
        if not await seg.wait_for(lambda: seg.newest_finished >= 0, FIRST_SEGMENT_WAIT):
            raise web.HTTPServiceUnavailable(text="the video has not started yet; retry\n")
        if msn is not None:
            newest = seg.newest[0]
            if msn > newest + 2:  # the spec's limit: a request too far ahead is a client error
                raise web.HTTPBadRequest(text=f"_HLS_msn={msn} is more than two segments ahead\n")
            ready = await seg.wait_for(lambda: seg.has(msn, part), 3 * self.target)
            if not ready:
                raise web.HTTPServiceUnavailable(text="that segment did not come in time; retry\n")
        return playlist_response(seg.playlist().render(query))

    def variant(self) -> Variant:
        """This rendition as a multivariant playlist lists it: its bits as measured over the window,
        else as the encoder is set (a peak of 1.5 times the rate, its VBV ceiling)."""
        measured = self.segmenter.bits_per_second()
        peak, average = measured or (self.encoder.bitrate * 3 // 2, self.encoder.bitrate)
        return Variant(self.uri, peak, average, self.rendition.size, self.segmenter.codecs, self.encoder.fps)

    async def file(self, request: web.Request, name: str) -> tuple[web.Response, int]:
        """An init segment, segment or part by its URI name, and the frames it holds; a 404 for a
        name that is not (or no longer) in the window."""
        seg = self.segmenter
        parsed = names.parse(name)
        if parsed is None or parsed.run != seg.run:
            raise web.HTTPNotFound(text="no such HLS file (the stream may have restarted)\n")
        found: tuple[bytes, int] | None
        if parsed.kind == "init":
            found = (seg.init, 0) if seg.init is not None and name == seg.init_uri else None
            content_type = "video/mp4"
        elif parsed.index is None:
            found = seg.segment(parsed.number)
            content_type = "video/iso.segment"
        else:
            msn, index = parsed.number, parsed.index
            if seg.part(msn, index) is None and seg.is_next_part(msn, index):
                # The preload hint names this part: hold the request until it exists.
                await seg.wait_for(lambda: seg.part(msn, index) is not None, 3 * PART_TARGET + self.target)
            found = seg.part(msn, index)
            content_type = "video/iso.segment"
        if found is None:
            raise web.HTTPNotFound(text="no such HLS file (it left the window)\n")
        data, frames = found
        return web.Response(
            body=data, content_type=content_type, headers={"Cache-Control": IMMUTABLE}
        ), frames


def multivariant(variants: Sequence[HlsOutput], query: str = "") -> web.Response:
    """The playlist naming every rendition, largest first (the one a player starts with when it has
    nothing else to go by); asks no encoder to start: a player asks for the one it picks."""
    listed = MultivariantPlaylist(tuple(v.variant() for v in variants))
    return playlist_response(listed.render(query))


def playlist_response(text: str) -> web.Response:
    return web.Response(text=text, content_type=PLAYLIST_TYPE, headers={"Cache-Control": "max-age=1"})


def _blocking_query(request: web.Request) -> tuple[int | None, int | None]:
    """``_HLS_msn`` and ``_HLS_part`` as numbers; a part without a segment number is a 400."""
    values: list[int | None] = []
    for key in ("_HLS_msn", "_HLS_part"):
        raw = request.query.get(key)
        if raw is None:
            values.append(None)
            continue
        if not raw.isdigit() or len(raw) > 9:
            raise web.HTTPBadRequest(text=f"{key} must be a whole number\n")
        values.append(int(raw))
    msn, part = values
    if part is not None and msn is None:
        raise web.HTTPBadRequest(text="_HLS_part needs _HLS_msn\n")
    return msn, part
