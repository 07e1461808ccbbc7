"""amplitude_legacy: the legacy Amplitude Node SDK model for Python backends."""

from amplitude_legacy._version import __version__

__all__ = ["__version__"]
