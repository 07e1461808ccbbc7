"""Build the documentation site with ``mkdocs build --strict``, as CI does."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NEEDED = ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python")


def _missing() -> list[str]:
    missing = []
    for name in NEEDED:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            missing.append(name)
    return missing


@pytest.mark.skipif(
    bool(_missing()),
    reason=f"docs tools not installed ({', '.join(_missing())}): pip install -e '.[docs]'",
)
def test_mkdocs_build_strict(tmp_path: Path) -> None:
    """The site builds with no warning: every nav entry, link and API reference resolves."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's banner, not a build warning
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    assert (tmp_path / "site" / "reference" / "index.html").exists()
    reference_page_is_clean(tmp_path / "site" / "reference" / "index.html")


def reference_page_is_clean(page: Path) -> None:
    """The API reference shows no reST markup literally (``The hierarchy::``), and its table of
    contents lists each section once: the module a ``:::`` block renders adds no second entry
    next to the section heading above it."""
    html = page.read_text(encoding="utf-8")
    assert "::</p>" not in html, "reST '::' shown literally in the API reference"
    start = html.index('class="md-nav md-nav--secondary"')
    depth, end = 1, start
    for tag in re.finditer(r"<nav\b|</nav>", html[start:]):  # the whole TOC, nested navs too
        depth += 1 if tag.group() == "<nav" else -1
        if depth == 0:
            end = start + tag.end()
            break
    spans = re.findall(
        r'class="md-nav__link">\s*<span class="md-ellipsis">(.*?)</span>', html[start:end], re.S
    )
    labels = [" ".join(re.sub(r"<[^>]+>", "", span).split()) for span in spans]
    reference = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    modules = re.findall(r"^::: ([\w.]+)$", reference, re.MULTILINE)
    assert modules and labels
    for module in modules:
        names = {module, module.rsplit(".", 1)[-1]}
        entries = [label for label in labels if label in names]
        assert len(entries) <= 1, f"{module} is in the TOC more than once: {entries}"
