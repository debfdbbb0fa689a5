"""The HTTP server: snapshot, MJPEG stream, viewer pages, status and control, in one aiohttp application."""

from camcast.server.routes import ROUTES, build_app

__all__ = ["ROUTES", "build_app"]
