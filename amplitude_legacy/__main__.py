"""``python -m amplitude_legacy``: the command line (``send``, ``check``, ``collector``)."""

from __future__ import annotations

from amplitude_legacy._cli import main

if __name__ == "__main__":
    raise SystemExit(main(prog="python -m amplitude_legacy"))
