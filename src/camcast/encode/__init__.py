"""Encoders, and the rendition that runs one: JPEG (whole or by stripes) today, H.264 next."""
