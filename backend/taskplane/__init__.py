"""taskplane: an async task platform on TaskIQ with Redis-held schedule state."""

__version__ = "0.1.0"

__all__ = ["__version__"]
