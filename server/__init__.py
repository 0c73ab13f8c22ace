"""fal-video-mcp server: wiring (app), configuration, storage and the fal gateway."""

__version__ = "0.1.0"
