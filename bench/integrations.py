"""Per-request cost of the web integrations, and of ``Amplitude.context`` per ``logEvent``.

``python -m bench.integrations`` (or ``python bench/integrations.py``) runs, each framework in a
child process of its own:

* **Django, Flask, FastAPI** through the framework's test client: 10,000 requests to a trivial
  view, without the integration, with it (context only, the default), and with it logging a
  request event per request. The same apps are also driven without the test client (a WSGI
  call with a prepared environ; an ASGI call on one event loop), and the integration is run
  alone around a trivial next layer (Django: a function returning a prepared response; Flask:
  a request context with its hooks; ASGI: an app that answers at once), which isolates its
  own cost from the framework's and the test client's.
* **``Amplitude.context``**: ``logEvent`` outside any context and inside
  ``with Amplitude.context(route=..., request_id=...)``, and the cost of entering and leaving
  a context.

Variants alternate in rounds (``--rounds``), so drift on a shared machine hits all of them
alike. Figures are CPU time of the process per call (on a shared machine, wall-clock time
mostly measures the wait for a core; it is kept in the JSON): the best round, the median
round, and the overhead against the "without" variant as the difference of the best rounds and
as the median of the per-round differences. The client queues the events (a long upload interval)
and delivers them to a loopback collector after the timed loop, untimed, so the figures are the
caller's cost, not the network's.

Examples:
    python -m bench.integrations                       # 10k requests per variant (~1-2 min)
    python -m bench.integrations --requests 500 --rounds 2 --json out.json   # smoke size
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence

if __package__ in (None, ""):  # python bench/integrations.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

__all__ = ["main"]

urlpatterns: List[Any] = []  # Django's ROOT_URLCONF is this module; bench_django fills it

FRAMEWORKS = ("django", "flask", "fastapi", "context")
DEVICE = {"X-Amplitude-Device-Id": "device-bench-0001"}  # so the request event is logged
Call = Callable[[], Any]


def _rounds(
    variants: Dict[str, Call], total: int, rounds: int, between: Call | None = None
) -> Dict[str, Any]:
    """Time ``total`` calls of each variant, alternating in ``rounds``; µs per call.

    Two clocks: the process's CPU time (the figures reported: on a shared machine a process
    that waits for a core accumulates wall-clock time but no CPU time) and the wall clock
    (kept in the JSON as ``wall_*``). ``between`` runs (untimed) after each timed stretch: it
    delivers what the clients queued, so the queue stays as short as in a running service.
    """
    per_round = max(1, total // rounds)
    warmup = min(200, per_round)
    cpu: Dict[str, List[float]] = {name: [] for name in variants}
    wall: Dict[str, List[float]] = {name: [] for name in variants}
    for call in variants.values():  # warm up: imports, caches, first-request set-up
        for _ in range(warmup):
            call()
    names = list(variants)
    for index in range(rounds):
        order = names[index % len(names) :] + names[: index % len(names)]
        for name in order:
            call = variants[name]
            wall_started, cpu_started = time.perf_counter_ns(), time.process_time_ns()
            for _ in range(per_round):
                call()
            cpu[name].append((time.process_time_ns() - cpu_started) / per_round / 1000)
            wall[name].append((time.perf_counter_ns() - wall_started) / per_round / 1000)
            if between is not None:
                between()
    out: Dict[str, Any] = {}
    for name in names:
        row: Dict[str, Any] = {"calls": per_round * rounds, "warmup": warmup}
        for prefix, means in (("", cpu), ("wall_", wall)):
            base = means[names[0]]
            diffs = [m - b for m, b in zip(means[name], base)]
            row[f"{prefix}best_us"] = round(min(means[name]), 3)
            row[f"{prefix}median_us"] = round(statistics.median(means[name]), 3)
            row[f"{prefix}overhead_best_us"] = round(min(means[name]) - min(base), 3)
            row[f"{prefix}overhead_median_us"] = round(statistics.median(diffs), 3)
            row[f"{prefix}rounds_us"] = [round(m, 3) for m in means[name]]
        out[name] = row
    return out


def _scaled(rows: Dict[str, Any], batch: int) -> Dict[str, Any]:
    """Rows of ``_rounds`` whose calls each did ``batch`` operations, per operation."""
    for row in rows.values():
        for prefix in ("", "wall_"):
            for key in ("best_us", "median_us", "overhead_best_us", "overhead_median_us"):
                row[prefix + key] = round(row[prefix + key] / batch, 4)
            row[prefix + "rounds_us"] = [round(v / batch, 4) for v in row[prefix + "rounds_us"]]
        row["calls"] *= batch
        row["warmup"] *= batch
    return rows


def _queued_client(collector: Any) -> Any:
    import amplitude_legacy as Amplitude

    return Amplitude.create_instance(
        "BENCH_API_KEY",
        server_url=collector.http_api_url,
        upload_interval_in_sec=3600,  # nothing leaves during the timed loop
        max_cached_events=10_000_000,
    )


def _flusher(clients: Sequence[Any]) -> Call:
    """Deliver what ``clients`` queued (run between timed stretches)."""

    def flush() -> None:
        for client in clients:
            client.flush(60)

    return flush


def _deliver(clients: Sequence[Any], collector: Any) -> int:
    """Send what the runs queued (untimed) and return how many events arrived."""
    for client in clients:
        client.flush(60)
        client.shutdown(5)
    return len(collector.events)


# --------------------------------------------------------------------------- frameworks


def bench_django(total: int, rounds: int, collector: Any) -> Dict[str, Any]:
    """Django's test client and its WSGI handler, without and with the middleware."""
    import django
    from django.conf import settings

    settings.configure(
        ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"], SECRET_KEY="bench", MIDDLEWARE=[]
    )
    django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.http import HttpResponse
    from django.test import Client, RequestFactory, override_settings
    from django.urls import path
    from werkzeug.test import EnvironBuilder

    from amplitude_legacy.integrations.django import AmplitudeMiddleware

    urlpatterns.append(path("bench", lambda request: HttpResponse("ok")))

    clients = [_queued_client(collector), _queued_client(collector)]
    middleware = ["amplitude_legacy.integrations.django.AmplitudeMiddleware"]
    configs = {
        "without": ([], None),
        "with (context)": (middleware, {"CLIENT": clients[0]}),
        "with (+ request event)": (
            middleware,
            {"CLIENT": clients[1], "REQUEST_EVENT": "Request Handled"},
        ),
    }
    test_clients: Dict[str, Call] = {}
    handlers: Dict[str, Call] = {}
    environ = EnvironBuilder(path="/bench", headers=DEVICE).get_environ()

    def start_response(status: str, headers: Any) -> None:
        pass

    # The middleware alone: a trivial next layer that answers a prepared response.
    request = RequestFactory().get("/bench", HTTP_X_AMPLITUDE_DEVICE_ID="device-bench-0001")
    response = HttpResponse("ok")

    def answer(request: Any) -> Any:
        return response

    alone: Dict[str, Call] = {}
    for name, (chain, amplitude) in configs.items():
        with override_settings(MIDDLEWARE=chain, AMPLITUDE=amplitude):
            http = Client(**{"HTTP_X_AMPLITUDE_DEVICE_ID": DEVICE["X-Amplitude-Device-Id"]})
            http.get("/bench")  # loads the middleware under these settings
            handler = WSGIHandler()
            layer = AmplitudeMiddleware(answer) if chain else answer
        test_clients[name] = lambda http=http: http.get("/bench")
        handlers[name] = lambda handler=handler: handler(dict(environ), start_response)
        alone[name] = lambda layer=layer: layer(request)
    between = _flusher(clients)
    result = {
        "test client": _rounds(test_clients, total, rounds, between),
        "WSGI call": _rounds(handlers, total, rounds, between),
        "middleware alone": _rounds(alone, total, rounds, between),
    }
    result["setup_requests"] = 1  # the request that loaded the middleware, per variant
    result["delivered"] = _deliver(clients, collector)
    return result


def bench_flask(total: int, rounds: int, collector: Any) -> Dict[str, Any]:
    """Flask's test client and a direct WSGI call, without and with the extension."""
    from flask import Flask, Response
    from werkzeug.test import EnvironBuilder

    from amplitude_legacy.integrations.flask import FlaskAmplitude

    clients = [_queued_client(collector), _queued_client(collector)]

    def make(client: Any, request_event: str | None) -> Flask:
        app = Flask(__name__)
        app.add_url_rule("/bench", "bench", lambda: "ok")
        if client is not None:
            app.config["AMPLITUDE_REQUEST_EVENT"] = request_event or False
            FlaskAmplitude(app, client=client)
        return app

    apps = {
        "without": make(None, None),
        "with (context)": make(clients[0], None),
        "with (+ request event)": make(clients[1], "Request Handled"),
    }
    environ = EnvironBuilder(path="/bench", headers=DEVICE).get_environ()

    def start_response(status: str, headers: Any) -> None:
        pass

    test_clients: Dict[str, Call] = {}
    for name, app in apps.items():
        http = app.test_client()
        test_clients[name] = lambda http=http: http.get("/bench", headers=DEVICE)
    wsgi = {n: (lambda app=app: app(dict(environ), start_response)) for n, app in apps.items()}
    ok = Response("ok")

    def hooks(app: Flask) -> None:
        """The extension alone: a request context with the hooks, no view."""
        with app.request_context(dict(environ)):
            app.process_response(app.preprocess_request() or ok)

    alone = {n: (lambda app=app: hooks(app)) for n, app in apps.items()}
    between = _flusher(clients)
    result = {
        "test client": _rounds(test_clients, total, rounds, between),
        "WSGI call": _rounds(wsgi, total, rounds, between),
        "extension alone": _rounds(alone, total, rounds, between),
    }
    result["delivered"] = _deliver(clients, collector)
    return result


def bench_fastapi(total: int, rounds: int, collector: Any) -> Dict[str, Any]:
    """FastAPI's TestClient and a direct ASGI call, without and with the middleware."""
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from amplitude_legacy.integrations.asgi import AmplitudeMiddleware

    clients = [_queued_client(collector), _queued_client(collector)]

    async def endpoint() -> Dict[str, bool]:  # async: a sync one would measure the thread pool
        return {"ok": True}

    def make(client: Any, request_event: str | None) -> FastAPI:
        app = FastAPI()
        app.add_api_route("/bench", endpoint)
        if client is not None:
            app.add_middleware(AmplitudeMiddleware, client=client, request_event=request_event)
        return app

    apps = {
        "without": make(None, None),
        "with (context)": make(clients[0], None),
        "with (+ request event)": make(clients[1], "Request Handled"),
    }
    between = _flusher(clients)
    test_clients: Dict[str, Call] = {}
    with contextlib.ExitStack() as stack:  # entered: one event loop thread per client
        for name, app in apps.items():
            http = stack.enter_context(TestClient(app))
            test_clients[name] = lambda http=http: http.get("/bench", headers=DEVICE)
        result: Dict[str, Any] = {"test client": _rounds(test_clients, total, rounds, between)}

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/bench", "raw_path": b"/bench", "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 1), "server": ("bench", 80),
        "headers": [(b"x-amplitude-device-id", b"device-bench-0001")],
    }  # fmt: skip

    async def receive() -> Dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        pass

    loop = asyncio.new_event_loop()
    asgi = {n: (lambda app=app: loop.run_until_complete(app(dict(scope), receive, send)))
            for n, app in apps.items()}  # fmt: skip
    result["ASGI call"] = _rounds(asgi, total, rounds, between)

    async def trivial(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    layers = {
        "without": trivial,
        "with (context)": AmplitudeMiddleware(trivial, client=clients[0]),
        "with (+ request event)": AmplitudeMiddleware(
            trivial, client=clients[1], request_event="Request Handled"
        ),
    }

    async def repeat(app: Any) -> None:  # 100 calls per loop entry: the loop's cost stays out
        for _ in range(100):
            await app(dict(scope), receive, send)

    alone = {n: (lambda app=app: loop.run_until_complete(repeat(app))) for n, app in layers.items()}
    result["middleware alone"] = _scaled(_rounds(alone, max(1, total // 100), rounds, between), 100)
    loop.close()
    result["delivered"] = _deliver(clients, collector)
    return result


def bench_context(total: int, rounds: int, collector: Any) -> Dict[str, Any]:
    """``logEvent`` outside and inside ``Amplitude.context``; entering and leaving one."""
    import amplitude_legacy as Amplitude

    client = _queued_client(collector)
    event = {"event_type": "Bench", "user_id": "user-bench-0001", "event_properties": {"n": 1}}

    def outside() -> None:
        client.logEvent(event)

    def inside() -> None:
        with Amplitude.context(route="/bench", request_id="req-0001"):
            for _ in range(100):
                client.logEvent(event)

    # logEvent inside a context: 100 calls per entered context, timed per call.
    calls = max(1000, total * 10)
    per = _scaled(
        _rounds({"outside": lambda: [outside() for _ in range(100)], "inside": inside},
                calls // 100, rounds, _flusher([client])),
        100,
    )  # fmt: skip
    client.flush(120)

    def noop() -> None:
        pass

    def enter_leave() -> None:
        with Amplitude.context(route="/bench", request_id="req-0001"):
            pass

    result = {
        "logEvent": per,
        "enter and leave": _rounds({"nothing": noop, "context": enter_leave}, calls, rounds),
    }
    result["delivered"] = _deliver([client], collector)
    return result


BENCHES = {
    "django": bench_django,
    "flask": bench_flask,
    "fastapi": bench_fastapi,
    "context": bench_context,
}


# --------------------------------------------------------------------------- driver


def run_child(name: str, total: int, rounds: int) -> Dict[str, Any]:
    """Run one framework's benchmark in this process; its result as a dict."""
    from amplitude_legacy.testing import Collector

    logging.getLogger("amplitude_legacy").setLevel(logging.ERROR)
    with Collector() as collector:
        started = time.monotonic()
        result = BENCHES[name](total, rounds, collector)
        result["seconds"] = round(time.monotonic() - started, 1)
    return result


def _table(results: Dict[str, Any]) -> str:
    lines = [
        "| Framework | Driven by | Variant | CPU µs/request (best round) | median | "
        "overhead µs (best) | overhead µs (median of rounds) |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for name in ("django", "flask", "fastapi"):
        for driver, rows in results.get(name, {}).items():
            if not isinstance(rows, dict) or driver == "error":
                continue
            for variant, row in rows.items():
                over = (
                    ("", "")
                    if variant == "without"
                    else (f"{row['overhead_best_us']:.1f}", f"{row['overhead_median_us']:.1f}")
                )
                lines.append(
                    f"| {name} | {driver} | {variant} | {row['best_us']:.1f} | "
                    f"{row['median_us']:.1f} | {over[0]} | {over[1]} |"
                )
    context = results.get("context", {})
    if "logEvent" in context:
        per, enter = context["logEvent"], context["enter and leave"]["context"]
        lines += [
            "",
            "| `Amplitude.context` | CPU µs (best round) | median |",
            "|---|---:|---:|",
            f"| logEvent outside a context | {per['outside']['best_us']:.3f} | "
            f"{per['outside']['median_us']:.3f} |",
            f"| logEvent inside a context | {per['inside']['best_us']:.3f} | "
            f"{per['inside']['median_us']:.3f} |",
            f"| extra per logEvent inside a context | {per['inside']['overhead_best_us']:.3f} | "
            f"{per['inside']['overhead_median_us']:.3f} |",
            f"| entering and leaving a context (`with`) | {enter['overhead_best_us']:.3f} | "
            f"{enter['overhead_median_us']:.3f} |",
        ]
    return "\n".join(lines)


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # not available on this platform
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run every benchmark (each in its own process), print the tables, optionally save JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.integrations", description=__doc__)
    parser.add_argument("--requests", type=int, default=10_000, help="per variant (10000)")
    parser.add_argument("--rounds", type=int, default=20, help="alternations (20)")
    parser.add_argument("--only", default=",".join(FRAMEWORKS), help="comma-separated subset")
    parser.add_argument("--json", metavar="FILE", help="write every measurement as JSON")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_child(args.child, args.requests, args.rounds)))
        return 0
    results: Dict[str, Any] = {
        "python": platform.python_version(),
        "requests": args.requests,
        "rounds": args.rounds,
        "load_average_start": _load(),
    }
    for name in args.only.split(","):
        done = subprocess.run(
            [sys.executable, "-m", "bench.integrations", "--child", name,
             "--requests", str(args.requests), "--rounds", str(args.rounds)],
            cwd=Path(__file__).resolve().parent.parent,
            capture_output=True,
            text=True,
        )  # fmt: skip
        if done.returncode != 0:
            results[name] = {"error": done.stderr.strip().splitlines()[-1:]}
            print(f"{name}: failed\n{done.stderr}", file=sys.stderr)
            continue
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
    results["load_average_end"] = _load()
    print(_table(results))
    print(f"\nload average (1 min): {results['load_average_start']} at the start, "
          f"{results['load_average_end']} at the end")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 1 if any("error" in r for r in results.values() if isinstance(r, dict)) else 0


if __name__ == "__main__":
    raise SystemExit(main())
