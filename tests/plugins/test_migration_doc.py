"""The snippets of docs/migration.md run, in order, against the bundled collector."""

from __future__ import annotations

import re
import textwrap
import types
from pathlib import Path
from typing import Any, Dict, List, Tuple

from amplitude_legacy.testing import Collector

DOC = Path(__file__).resolve().parents[2] / "docs" / "migration.md"
_FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def python_blocks(text: str) -> List[Tuple[int, str]]:
    """Every ```python block (not marked no-run) with the line number of its first line."""
    blocks = []
    for match in _FENCE.finditer(text):
        info = match.group("info").strip()
        if info.split(" ")[0] not in ("python", "py") or "no-run" in info:
            continue
        line = text.count("\n", 0, match.start()) + 2
        blocks.append((line, textwrap.dedent(match.group("body"))))
    return blocks


def test_migration_guide_has_a_snippet_per_step() -> None:
    """The guide shows runnable code for the options and each of its four steps."""
    text = DOC.read_text(encoding="utf-8")
    assert len(python_blocks(text)) >= 5
    for needle in (
        "options_to_plugin_config",
        "client.track(",
        "MiddlewarePlugin(",
        "LegacyClient(",
    ):
        assert any(needle in code for _, code in python_blocks(text)), needle


def test_migration_guide_snippets_run(amplitude_collector: Collector) -> None:
    """Each snippet runs in order in one namespace, with SERVER_URL set to the collector."""
    module = types.ModuleType("migration_doc")
    namespace: Dict[str, Any] = module.__dict__
    namespace.update(SERVER_URL=amplitude_collector.http_api_url, COLLECTOR=amplitude_collector)
    for line, code in python_blocks(DOC.read_text(encoding="utf-8")):
        exec(compile(code, f"docs/migration.md:{line}", "exec"), namespace)
    assert amplitude_collector.events, "the snippets sent nothing"
    assert all(not e["user_id"].startswith("bot-") for e in amplitude_collector.events)
