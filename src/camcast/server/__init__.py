"""The HTTP server: snapshots, MJPEG streams, viewer pages, status and control, for a set of cameras."""

from camcast.server.app import build_app
from camcast.server.urls import ROUTES, path_for

__all__ = ["ROUTES", "build_app", "path_for"]
