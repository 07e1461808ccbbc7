"""``import amplitude_legacy`` loads only what ``init`` + ``logEvent`` need."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: Loaded when first used, never by the import: each costs tens of milliseconds.
HEAVY = ("asyncio", "dataclasses_json", "marshmallow", "sqlite3", "requests", "urllib3")
PLUGIN_BRIDGE = "amplitude_legacy.plugins"


def _loaded_after(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; return the heavy modules it left loaded."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted(m for m in sys.modules "
        f"if m.split('.')[0] in {HEAVY!r} or m.startswith({PLUGIN_BRIDGE!r}))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_import_loads_nothing_heavy() -> None:
    """asyncio, dataclasses-json, sqlite3, requests, urllib3 and the plugin bridge stay out."""
    assert _loaded_after("import amplitude_legacy") == []


def test_init_and_log_event_load_only_urllib3() -> None:
    """A client that logs an event adds urllib3 (its transport) and nothing else heavy."""
    code = (
        "import amplitude_legacy as A\n"
        "c = A.init('KEY', server_url='http://127.0.0.1:9', max_concurrent_requests=1)\n"
        "c.setOptOut(True)\n"
        "c.logEvent({'event_type': 'e', 'user_id': 'user-1'})\n"
    )
    assert {m.split(".")[0] for m in _loaded_after(code)} == {"urllib3"}


@pytest.mark.parametrize(
    "code, module",
    [
        ("import amplitude_legacy as A; A.Options().to_dict()", "dataclasses_json"),
        ("import amplitude_legacy as A; A.init('K').add(type('P', (), {'name': 'p', "
         "'execute': lambda s, e: e})())", "amplitude_legacy.plugins"),
        ("import amplitude_legacy as A, asyncio; asyncio.run(A.init('K').flush_async())",
         "asyncio"),
    ],
)  # fmt: skip
def test_heavy_parts_load_when_first_used(code: str, module: str) -> None:
    """Each deferred part is still there when its feature is used."""
    assert module in _loaded_after(code)
