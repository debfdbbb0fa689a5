"""The HTTP server: snapshot, MJPEG stream, viewer pages and status, in one aiohttp application."""

from camcast.server.routes import build_app

__all__ = ["build_app"]
