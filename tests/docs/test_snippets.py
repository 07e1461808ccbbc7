"""Execute every ```python block of README.md and docs/**/*.md, with traffic kept on loopback.

The convention (also in docs/testing.md, "Writing documentation"):

* Every fenced block whose info string starts with ``python`` (or ``py``) runs. The blocks of
  one page run in order in one namespace, so a later block may use what an earlier one defined.
* A block fenced as ```` ```python { .no-run } ```` is shown but not run (``no-run`` anywhere in
  the info string works). A block that only includes a file (``--8<-- "examples/x.py"``) is
  not run here: ``test_examples.py`` runs the examples themselves.
* Each page gets a fresh bundled collector; its globals hold ``SERVER_URL`` (its HTTP V2 URL)
  and ``COLLECTOR`` for snippets that want to show what arrived.
* No traffic leaves loopback: while a page runs, the built-in transports send every request
  whose URL is not on loopback to the page's collector instead (``/batch`` URLs to its batch
  URL; the options, and so ``getOptions()``, are left as the snippet set them), and DNS
  look-ups and socket connections to anything but loopback raise ``PermissionError``. Every
  client built while the page runs (``init`` included) is shut down after it.
* A ``test_*`` function a page defines is called right after the block that defines it, with
  the fixtures it names, like pytest would: ``amplitude_collector`` (a fresh collector),
  ``tmp_path``, or a ``@pytest.fixture`` the page defined (generator fixtures are torn down).
"""

from __future__ import annotations

import contextlib
import inspect
import ipaddress
import re
import socket
import sys
import textwrap
import traceback
import types
from pathlib import Path
from typing import Any, Dict, List, NamedTuple, Tuple
from urllib.parse import urlsplit

import pytest

from amplitude_legacy import _client, _transport
from amplitude_legacy.testing import Collector

ROOT = Path(__file__).resolve().parents[2]

_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)\n"
    r"(?P<body>.*?)"
    r"^(?P=indent)(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
_INCLUDE = re.compile(r"^\s*(--8<--.*)?$")

#: Blocks known to fail, by (page, a line of the block): the page still runs its other blocks
#: and the test is an expected failure naming the reason. Strict: a listed block that passes
#: fails the test, so the entry is removed once the page is fixed.
KNOWN_BROKEN: Dict[Tuple[str, str], str] = {}


class Snippet(NamedTuple):
    """One fenced block: where it is, its info string and its code."""

    path: Path
    line: int
    info: str
    code: str

    @property
    def known_broken(self) -> str | None:
        """The reason this block is listed in ``KNOWN_BROKEN``, if it is."""
        for (page, line), reason in KNOWN_BROKEN.items():
            if self.path.name == page and line in self.code.splitlines():
                return reason
        return None

    @property
    def runs(self) -> bool:
        """Whether the runner executes this block."""
        words = self.info.replace("{", " ").replace("}", " ").split()
        if not words or words[0] not in ("python", "py", "python3"):
            return False
        if "no-run" in self.info:
            return False
        return not all(_INCLUDE.match(line) for line in self.code.splitlines())


def extract(path: Path) -> List[Snippet]:
    """Every fenced block of a Markdown file, dedented, with its 1-based line number."""
    text = path.read_text(encoding="utf-8")
    blocks = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 2  # the first line of code
        code = textwrap.dedent(match.group("body"))
        blocks.append(Snippet(path, line, match.group("info").strip(), code))
    return blocks


def documents() -> List[Path]:
    """README.md and every page under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _is_loopback_host(host: str) -> bool:
    if host in ("", "localhost") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False


def _is_loopback_url(url: str | None) -> bool:
    host = urlsplit(url).hostname if url else None
    return host is not None and _is_loopback_host(host)


class LoopbackGuard:
    """Sends clients' requests to a collector and refuses non-loopback sockets while installed.

    The redirect happens in the transports, not in the options, so ``getOptions()`` still
    shows what the snippet configured.
    """

    def __init__(self, collector: Collector, monkeypatch: pytest.MonkeyPatch) -> None:
        self.collector = collector
        self.clients: List[Any] = []
        self.redirected: List[str] = []
        original_init = _client.NodeClient.__init__
        guard = self

        def tracked_init(self: Any, *args: Any, **kwargs: Any) -> None:
            original_init(self, *args, **kwargs)
            guard.clients.append(self)

        def redirect(url: str) -> str:
            if _is_loopback_url(url):
                return url
            guard.redirected.append(url)
            path = urlsplit(url).path.rstrip("/")
            return collector.batch_url if path.endswith("/batch") else collector.http_api_url

        for cls in (_transport.Urllib3Transport, _transport.RequestsTransport):

            def send(self: Any, url: str, *args: Any, _send: Any = cls.send, **kwargs: Any) -> Any:
                return _send(self, redirect(url), *args, **kwargs)

            monkeypatch.setattr(cls, "send", send)
        monkeypatch.setattr(_client.NodeClient, "__init__", tracked_init)

        real_getaddrinfo = socket.getaddrinfo
        real_connect = socket.socket.connect
        real_connect_ex = socket.socket.connect_ex

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            name = host.decode() if isinstance(host, bytes) else host
            if name is not None and not _is_loopback_host(str(name)):
                raise PermissionError(f"doc snippet tried to resolve {name!r}: loopback only")
            return real_getaddrinfo(host, *args, **kwargs)

        def check(sock: socket.socket, address: Any) -> None:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                host = address[0] if isinstance(address, tuple) else address
                if not _is_loopback_host(str(host)):
                    raise PermissionError(f"doc snippet tried to connect to {address!r}")

        def connect(sock: socket.socket, address: Any) -> None:
            check(sock, address)
            real_connect(sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> int:
            check(sock, address)
            return real_connect_ex(sock, address)

        monkeypatch.setattr(_client, "_instances", {})  # init()/getInstance() start empty
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)

    def close(self) -> None:
        """Shut down every client the page built."""
        for client in self.clients:
            client.shutdown(5)


def _fixture_function(obj: Any) -> Any:
    """The plain function behind a ``@pytest.fixture`` (pytest 7 to 9), else ``None``."""
    unwrap = getattr(obj, "_get_wrapped_function", None)  # pytest >= 8.4
    if callable(unwrap):
        return unwrap()
    wrapped = getattr(obj, "__pytest_wrapped__", None)  # older pytest
    return getattr(wrapped, "obj", None)


class _Fixtures:
    """Resolves the fixtures a page's ``test_*`` function names, like a tiny pytest."""

    def __init__(self, namespace: Dict[str, Any], tmp_path: Path) -> None:
        self.namespace = namespace
        self.tmp_path = tmp_path
        self.values: Dict[str, Any] = {}
        self.stack = contextlib.ExitStack()

    def get(self, name: str, requester: str) -> Any:
        """The value of fixture ``name`` for this test (built once, torn down by ``close``)."""
        if name in self.values:
            return self.values[name]
        if name == "amplitude_collector":
            value: Any = self.stack.enter_context(Collector())
        elif name == "tmp_path":
            value = self.tmp_path
        else:
            fn = _fixture_function(self.namespace.get(name))
            if fn is None:
                raise AssertionError(f"{requester}: no fixture {name!r} in the snippet runner")
            value = self.call(fn)
            if inspect.isgenerator(value):
                generator = value
                value = next(generator)
                self.stack.callback(lambda: next(generator, None))
        self.values[name] = value
        return value

    def call(self, fn: Any) -> Any:
        """Call ``fn`` with the fixtures its parameters name."""
        kwargs = {p: self.get(p, fn.__name__) for p in inspect.signature(fn).parameters}
        return fn(**kwargs)

    def close(self) -> None:
        """Tear down in reverse order of setup."""
        self.stack.close()


def _call_test_functions(namespace: Dict[str, Any], seen: set[str], tmp_path: Path) -> None:
    """Call each new ``test_*`` function with the fixtures it names (fresh ones per test)."""
    for name, fn in list(namespace.items()):
        if not name.startswith("test_") or name in seen or not inspect.isfunction(fn):
            continue
        seen.add(name)
        fixtures = _Fixtures(namespace, tmp_path)
        try:
            fixtures.call(fn)
        finally:
            fixtures.close()


def run_document(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, known: List[str] | None = None
) -> int:
    """Run the blocks of one page; return how many ran.

    A block listed in ``KNOWN_BROKEN`` that fails is noted in ``known`` and the page goes on; one
    that passes raises. Any other failure raises ``AssertionError`` naming the block's line.
    """
    snippets = [s for s in extract(path) if s.runs]
    if not snippets:
        return 0
    collectors: List[Collector] = [Collector().start()]
    guard = LoopbackGuard(collectors[0], monkeypatch)
    module = types.ModuleType("docs_snippet")
    monkeypatch.setitem(sys.modules, "docs_snippet", module)
    namespace = module.__dict__
    namespace.update(SERVER_URL=collectors[0].http_api_url, COLLECTOR=collectors[0])
    monkeypatch.chdir(tmp_path)
    seen: set[str] = set()
    try:
        for snippet in snippets:
            where = f"{snippet.path.relative_to(ROOT)}:{snippet.line}"
            reason = snippet.known_broken
            try:
                exec(compile(snippet.code, where, "exec"), namespace)
                _call_test_functions(namespace, seen, tmp_path)
            except Exception as exc:
                if reason is not None and known is not None:
                    known.append(f"{where}: {reason} ({type(exc).__name__})")
                    continue
                detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                raise AssertionError(f"the snippet at {where} failed:\n{detail}") from None
            if reason is not None:
                raise AssertionError(f"{where} passes now: remove it from KNOWN_BROKEN")
    finally:
        guard.close()
        for collector in collectors:
            collector.stop()
    return len(snippets)


DOCUMENTS = documents()
#: Pages that start a JVM (Spark) get more than the suite's default time per test (seconds).
SLOW_PAGES: Dict[str, float] = {"spark.md": 240.0}


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(p, marks=pytest.mark.timeout(SLOW_PAGES[p.name]))
        if p.name in SLOW_PAGES
        else p
        for p in DOCUMENTS
    ],
    ids=[str(p.relative_to(ROOT)) for p in DOCUMENTS],
)
def test_document_snippets_run(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every runnable ```python block of the page executes without error."""
    known: List[str] = []
    run_document(path, tmp_path, monkeypatch, known)
    if known:
        pytest.xfail("; ".join(known))


def test_docs_have_runnable_snippets() -> None:
    """The runner finds blocks to run (a broken fence pattern would silently test nothing)."""
    counts = {p.name: sum(s.runs for s in extract(p)) for p in DOCUMENTS}
    assert counts["README.md"] >= 2
    assert counts.get("middleware.md", 0) >= 5


def test_runner_keeps_traffic_on_loopback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A snippet aimed at the real API reaches the collector; raw sockets cannot leave loopback."""
    page = tmp_path / "page.md"
    page.write_text(
        textwrap.dedent(
            """\
            ```python
            import socket
            import amplitude_legacy as Amplitude

            client = Amplitude.init("API_KEY", {"serverUrl": "https://api.eu.amplitude.com/batch"})
            assert client.logEvent({"event_type": "e", "user_id": "user-1"}).result(10).delivered
            assert COLLECTOR.requests[-1].path == "/batch"
            try:
                socket.create_connection(("192.0.2.1", 443), timeout=1)
            except PermissionError:
                blocked = True
            assert blocked
            ```

            ```python { .no-run }
            raise SystemExit("never runs")
            ```
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert run_document(page, tmp_path, monkeypatch) == 1
