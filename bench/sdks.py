"""One adapter per SDK: build the client as a user would tune it, and expose the timed call.

Every adapter sends the same event: ``event_type="bench_event"``, a user id from a pool of 100,
and three small properties (``seq``, ``page``, ``plan``), where ``seq`` is the event's index
and lets the collector count loss and duplicates for every SDK alike. The timed call
(``Adapter.call(user_id, props)``) includes what the SDK's API asks the caller to build
(``BaseEvent`` for amplitude-analytics, keyword arguments for the others).

Tunings (python-peers.md §7, "so nothing drops"): Segment and PostHog get
``max_queue_size >= N`` (their default 10,000 drops a 50k burst); amplitude-analytics and our
client run with their defaults. Every host points at the bench collector.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import tempfile
import time
import uuid
from typing import Any, Callable, Dict, List

__all__ = ["ADAPTERS", "Adapter", "json_encoder", "make_adapter"]

EVENT_TYPE = "bench_event"
API_KEY = "bench-api-key"
Call = Callable[[str, Dict[str, Any]], Any]


def json_encoder(lib: str) -> Callable[[Any], bytes]:
    """The encoder our client would pick: ``orjson.dumps`` or a compact stdlib encoder."""
    if lib == "orjson":
        import orjson

        return orjson.dumps
    encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
    return lambda value: encode(value).encode()


class Adapter:
    """Base adapter: ``call`` is timed per event, ``finish`` is the user's flush after a burst.

    Args:
        base_url: the collector, e.g. ``http://127.0.0.1:8000``.
        n: events in the burst (queue bounds are sized from it).
        params: scenario parameters (variant options).
    """

    name = "?"
    call: Call

    def __init__(self, base_url: str, n: int, params: Dict[str, Any]) -> None:
        self.base_url = base_url
        self.n = n
        self.params = params

    def after_burst(self) -> Dict[str, Any]:
        """Diagnostics read right after the last call (must cost microseconds)."""
        return {}

    def finish(self, timeout: float) -> None:
        """Flush what is queued, as a user would at the end of a burst."""

    def close(self, timeout: float) -> None:
        """Shut the client down (not timed)."""

    def info(self) -> Dict[str, Any]:
        """Version and settings, for the report."""
        return {}


class Ours(Adapter):
    """``amplitude_legacy``: defaults, optional middleware / gzip / cache-everything variants."""

    name = "ours"

    def __init__(self, base_url: str, n: int, params: Dict[str, Any]) -> None:
        super().__init__(base_url, n, params)
        import amplitude_legacy
        from amplitude_legacy import _encoding

        self._version = getattr(amplitude_legacy, "__version__", "?")
        self._json = "orjson" if _encoding.encoder().__module__ == "orjson" else "stdlib"
        options: Dict[str, Any] = dict(params.get("options") or {})
        if params.get("gzip"):
            options["gzip"] = True
        if params.get("spool"):
            options["spool_path"] = os.path.join(
                tempfile.mkdtemp(prefix="bench-spool-"), "spool.db"
            )
            options["spool_mode"] = params["spool"]
        self.client = amplitude_legacy.init(
            API_KEY, options, server_url=base_url + "/2/httpapi", instance_name="bench"
        )
        for middleware in _middleware(int(params.get("middleware", 0))):
            self.client.addEventMiddleware(middleware)
        log = self.client.logEvent
        self.call = lambda user_id, props: log(
            {"event_type": EVENT_TYPE, "user_id": user_id, "event_properties": props}
        )

    def after_burst(self) -> Dict[str, Any]:
        """Events still waiting for the worker when the burst ends (private, read lock-free)."""
        intake = getattr(getattr(self.client, "_ledger", None), "intake", None)
        return {"queued_at_burst_end": len(intake)} if intake is not None else {}

    def finish(self, timeout: float) -> None:
        """``client.flush(timeout)``."""
        self.client.flush(timeout)

    def close(self, timeout: float) -> None:
        """``client.shutdown(timeout)``."""
        self.client.shutdown(timeout)

    def info(self) -> Dict[str, Any]:
        """Version, JSON library, options, and the client's own counters."""
        stats = self.client.stats()
        raw = dataclasses.asdict(stats) if dataclasses.is_dataclass(stats) else {}
        options = {k: v for k, v in self.params.items() if k != "options"}
        options.update(self.params.get("options") or {})
        return {
            "version": self._version,
            "json_lib": self._json,
            "options": options,
            "client_stats": {k: v for k, v in raw.items() if isinstance(v, (int, float, dict))},
        }


def _middleware(count: int) -> List[Callable[[Any, Callable[[Any], None]], None]]:
    """Two small, typical middleware: stamp the platform, copy a value from ``extra``."""

    def platform(payload: Any, next: Callable[[Any], None]) -> None:
        payload.event["platform"] = "server"
        next(payload)

    def app_version(payload: Any, next: Callable[[Any], None]) -> None:
        payload.event["app_version"] = "1.2.3"
        next(payload)

    chain: List[Callable[[Any, Callable[[Any], None]], None]] = [platform, app_version]
    return chain[:count]


class Floor(Adapter):
    """The raw floor: annotate, encode, POST 2000-event bodies through one urllib3 pool.

    The same JSON library as our client, the same wire body (library, time and a UUID-shaped
    insert_id per event), synchronously on the caller's thread: no queue, no thread, no futures.
    With ``concurrency`` > 1 (the latency rows) each body is POSTed by one of that many threads,
    so the floor overlaps requests as our client does.
    """

    name = "floor"

    def __init__(self, base_url: str, n: int, params: Dict[str, Any]) -> None:
        super().__init__(base_url, n, params)
        import urllib3

        self._json = str(params.get("json", "orjson"))
        dumps = json_encoder(self._json)
        concurrency = int(params.get("concurrency", 1))
        self._pool = urllib3.PoolManager(maxsize=concurrency)
        self._executor: Any = None
        self._pending: List[Any] = []
        if concurrency > 1:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(concurrency)
        self._url = base_url + "/2/httpapi"
        self._prefix = b'{"api_key":"' + API_KEY.encode() + b'","events":['
        parts: list[bytes] = []
        self._parts = parts
        insert_id = (str(uuid.uuid4())[:24] + "%012x").__mod__
        counter = itertools.count()
        post = self._post
        now = time.time
        library = "amplitude-legacy-python/floor"

        def call(user_id: str, props: Dict[str, Any]) -> None:
            parts.append(
                dumps(
                    {
                        "event_type": EVENT_TYPE,
                        "user_id": user_id,
                        "event_properties": props,
                        "library": library,
                        "time": int(now() * 1000),
                        "insert_id": insert_id(next(counter)),
                    }
                )
            )
            if len(parts) == 2000:
                post()

        self.call = call

    def _post(self) -> None:
        body = self._prefix + b",".join(self._parts) + b"]}"
        self._parts.clear()
        if self._executor is not None:
            self._pending.append(self._executor.submit(self._send, body))
        else:
            self._send(body)

    def _send(self, body: bytes) -> None:
        response = self._pool.request(
            "POST", self._url, body=body, headers={"Content-Type": "application/json"}
        )
        if response.status != 200:
            raise RuntimeError(f"floor: collector answered {response.status}")

    def finish(self, timeout: float) -> None:
        """POST the last partial body (and wait for the bodies in flight)."""
        if self._parts:
            self._post()
        for future in self._pending:
            future.result(timeout)

    def close(self, timeout: float) -> None:
        """Close the pool."""
        if self._executor is not None:
            self._executor.shutdown()
        self._pool.clear()

    def info(self) -> Dict[str, Any]:
        """JSON library and body size."""
        return {"version": "-", "json_lib": self._json, "options": {"events_per_body": 2000}}


class OfficialAmplitude(Adapter):
    """``amplitude-analytics``: defaults (unbounded storage, 16 sender threads)."""

    name = "amplitude"

    def __init__(self, base_url: str, n: int, params: Dict[str, Any]) -> None:
        super().__init__(base_url, n, params)
        from amplitude import Amplitude, BaseEvent, Config  # type: ignore[import-untyped]

        self.client = Amplitude(API_KEY, Config(server_url=base_url + "/2/httpapi"))
        track = self.client.track
        self.call = lambda user_id, props: track(
            BaseEvent(event_type=EVENT_TYPE, user_id=user_id, event_properties=props)
        )

    def finish(self, timeout: float) -> None:
        """``client.flush()`` and wait for its futures."""
        for future in self.client.flush() or []:
            future.result(timeout)

    def close(self, timeout: float) -> None:
        """``client.shutdown()``."""
        self.client.shutdown()

    def info(self) -> Dict[str, Any]:
        """Version and settings."""
        from amplitude import constants

        return {"version": constants.SDK_VERSION, "options": {"defaults": True}}


class Segment(Adapter):
    """``segment-analytics-python``: ``max_queue_size`` raised to N so nothing drops."""

    name = "segment"

    def __init__(self, base_url: str, n: int, params: Dict[str, Any]) -> None:
        super().__init__(base_url, n, params)
        from segment.analytics import Client  # type: ignore[import-untyped]

        self._queue = max(100_000, n)
        self.client = Client(
            write_key=API_KEY, host=base_url, max_queue_size=self._queue, send=True, debug=False
        )
        track = self.client.track
        self.call = lambda user_id, props: track(
            user_id=user_id, event=EVENT_TYPE, properties=props
        )

    def finish(self, timeout: float) -> None:
        """``client.flush()`` (waits until the queue is empty)."""
        self.client.flush()

    def close(self, timeout: float) -> None:
        """``client.shutdown()``."""
        self.client.shutdown()

    def info(self) -> Dict[str, Any]:
        """Version and settings."""
        from segment.analytics.version import VERSION  # type: ignore[import-untyped]

        return {"version": VERSION, "options": {"max_queue_size": self._queue}}


class PostHog(Adapter):
    """``posthog``: ``max_queue_size`` raised to N, geoip and exception autocapture off."""

    name = "posthog"

    def __init__(self, base_url: str, n: int, params: Dict[str, Any]) -> None:
        super().__init__(base_url, n, params)
        from posthog import Posthog

        self._queue = max(100_000, n)
        self.client = Posthog(
            "phc_bench",
            host=base_url,
            max_queue_size=self._queue,
            disable_geoip=True,
            enable_exception_autocapture=False,
        )
        capture = self.client.capture
        self.call = lambda user_id, props: capture(
            EVENT_TYPE, distinct_id=user_id, properties=props
        )

    def finish(self, timeout: float) -> None:
        """``client.flush()``."""
        self.client.flush()

    def close(self, timeout: float) -> None:
        """``client.shutdown()``."""
        self.client.shutdown()

    def info(self) -> Dict[str, Any]:
        """Version and settings."""
        from posthog.version import VERSION

        return {"version": VERSION, "options": {"max_queue_size": self._queue}}


ADAPTERS: Dict[str, type[Adapter]] = {
    cls.name: cls for cls in (Ours, Floor, OfficialAmplitude, Segment, PostHog)
}
#: The module each SDK needs (to skip a peer that is not installed).
REQUIRES: Dict[str, str | None] = {
    "ours": "amplitude_legacy",
    "floor": "urllib3",
    "amplitude": "amplitude",
    "segment": "segment.analytics",
    "posthog": "posthog",
}


def make_adapter(sdk: str, base_url: str, n: int, params: Dict[str, Any]) -> Adapter:
    """Build the adapter for ``sdk``."""
    return ADAPTERS[sdk](base_url, n, params)
