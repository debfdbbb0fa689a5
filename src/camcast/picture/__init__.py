"""Drawing on pictures: colour conversion, text and cards, geometry, privacy masks and overlays.

Everything here works on :class:`~camcast.frames.Yuv420` pictures and knows nothing of sources,
encoders or transports. A :data:`~camcast.picture.steps.Step` is the unit the hub and the renditions
chain together.
"""
