"""A camera's sound: captured only when the owner turns it on, encoded once per codec for every output
that carries it.

The layout follows the pictures': an input (the camera's microphone, a source's own sound track, the
test pattern's beep) hands :class:`~camcast.frames.Chunk` s of PCM, stamped with the monotonic
clock the pictures are stamped with, to the camera's :class:`~camcast.audio.sound.Sound`; it fans them
out to one :class:`~camcast.audio.encode.AudioRendition` per codec (Opus for WebRTC and RTSP, AAC-LC
for HLS, recordings and the push), each encoding only while some output listens.
"""
