"""The plan of a run: which child processes to start, with which parameters, in which order."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Sequence

__all__ = ["CURVE_SIZES", "Scenario", "build_plan"]

#: Burst sizes of ``--curve``.
CURVE_SIZES = (1_000, 10_000, 100_000, 1_000_000)
#: Events held in memory by the ``cached`` scenario.
CACHED_EVENTS = 100_000


@dataclass(frozen=True)
class Scenario:
    """One child process: an SDK, a burst size, a mode and its parameters.

    Attributes:
        label: the row name in the report.
        sdk: a key of ``bench.sdks.ADAPTERS``.
        events: events in the burst.
        group: ``main``, ``latency``, ``gzip``, ``json``, ``curve``, ``cached`` or ``profile``.
        mode: ``burst``, ``cached`` or ``profile`` (see ``bench.child``).
        params: adapter parameters (``middleware``, ``gzip``, ``json``, ``options``).
        latency_ms: how long the collector waits before answering each request.
    """

    label: str
    sdk: str
    events: int
    group: str = "main"
    mode: str = "burst"
    params: Dict[str, Any] = field(default_factory=dict)
    latency_ms: float = 0.0

    def spec(self, base_url: str, timeout: float) -> Dict[str, Any]:
        """The JSON spec handed to ``bench.child``."""
        return {**asdict(self), "base_url": base_url, "timeout": timeout}


def _size_label(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def build_plan(
    sdks: Sequence[str],
    events: int,
    json_lib: str,
    *,
    gzip: bool = False,
    json_compare: bool = False,
    curve: bool = False,
    profile: bool = False,
    spool: bool = False,
    latencies: Sequence[float] = (),
) -> List[Scenario]:
    """Every scenario of a run, main table first."""
    plan: List[Scenario] = []
    for latency in (ms for ms in latencies if ms > 0):
        # The main SDKs against a collector that answers after ``latency`` ms. The floor keeps
        # as many requests in flight as our default (4), so it stays a floor.
        for sdk in sdks:
            params: Dict[str, Any] = {"json": json_lib} if sdk in ("ours", "floor") else {}
            if sdk == "floor":
                params["concurrency"] = 4
            plan.append(Scenario(f"{sdk} @{latency:g}ms", sdk, events, "latency", "burst",
                                 params, latency))  # fmt: skip
    for sdk in sdks:
        if sdk == "ours":
            plan.append(Scenario("ours", "ours", events, params={"json": json_lib}))
            plan.append(
                Scenario(
                    "ours +2 middleware", "ours", events, params={"json": json_lib, "middleware": 2}
                )
            )
        elif sdk == "floor":
            plan.append(Scenario("floor", "floor", events, params={"json": json_lib}))
        else:
            plan.append(Scenario(sdk, sdk, events))
    if gzip and "ours" in sdks:
        plan.append(
            Scenario("ours gzip", "ours", events, "gzip", params={"json": json_lib, "gzip": True})
        )
    if spool and "ours" in sdks:
        # The durable spool (spoolPath): on_failure costs nothing until a failure; always
        # writes each event ahead on the caller's thread.
        for mode in ("on_failure", "always"):
            plan.append(
                Scenario(
                    f"ours spool {mode}",
                    "ours",
                    events,
                    "spool",
                    params={"json": json_lib, "spool": mode},
                )
            )
    if json_compare and json_lib == "orjson":
        if "ours" in sdks:
            plan.append(
                Scenario("ours stdlib json", "ours", events, "json", params={"json": "stdlib"})
            )
        if "floor" in sdks:
            plan.append(
                Scenario("floor stdlib json", "floor", events, "json", params={"json": "stdlib"})
            )
    if curve:
        for n in CURVE_SIZES:
            # A tight loop of 1M calls outruns one worker sharing the GIL: give the queue room
            # for the whole burst (as Segment/PostHog get max_queue_size >= N), default 250k.
            params = {"json": json_lib, "options": {"maxQueueSize": max(250_000, n)}}
            plan.append(Scenario(f"ours {_size_label(n)}", "ours", n, "curve", params=params))
        cached_options = {"uploadIntervalInSec": 3600, "maxCachedEvents": 2 * CACHED_EVENTS}
        plan.append(
            Scenario(
                f"ours {_size_label(CACHED_EVENTS)} cached",
                "ours",
                CACHED_EVENTS,
                "cached",
                "cached",
                {"json": json_lib, "options": cached_options},
            )
        )
    if profile:
        plan.append(
            Scenario("ours (cProfile)", "ours", events, "profile", "profile", {"json": json_lib})
        )
    return plan
