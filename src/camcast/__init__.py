"""camcast: put a webcam on the web, safely. See README.md."""

__version__ = "0.1.0"
