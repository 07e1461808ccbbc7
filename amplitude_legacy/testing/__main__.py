"""``python -m amplitude_legacy.testing``: run the Amplitude-compatible collector."""

from __future__ import annotations

from amplitude_legacy.testing._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
