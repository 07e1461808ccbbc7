"""Side-by-side benchmark of ``amplitude_legacy``, the official and peer SDKs, and a raw floor.

Run ``python -m bench --help``; see ``bench/README.md`` and ``docs/performance.md``.
"""
