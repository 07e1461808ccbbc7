"""Dotted paths into an event (``"event_properties.email"``, ``"ip"``), read and rewritten.

Rewrites never change a nested dict in place: ``logEvent`` copies the caller's event but not
the dicts inside it, so a nested dict may still be the caller's own. A changed level is copied
first (copy-on-write), the unchanged ones are shared.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Tuple

__all__ = ["PROPERTY_GROUPS", "PathTree", "build_tree", "parse_path", "read_path", "rewrite"]

#: Top-level fields whose dicts may hold identify operations (``{"$set": {...}}``): a path into
#: them also reaches into each operation's dict, so ``user_properties.email`` covers
#: ``user_properties.$set.email`` too.
PROPERTY_GROUPS = frozenset(("user_properties", "group_properties"))

PathTree = Dict[str, Optional["PathTree"]]
"""Paths grouped by segment: ``{"event_properties": {"email": None}, "ip": None}``; ``None``
marks the end of a path."""


def parse_path(path: object, arg: str) -> Tuple[str, ...]:
    """Split a dotted path into its segments.

    Raises:
        TypeError: ``path`` is not a string.
        ValueError: an empty path or segment (``"a..b"``).
    """
    if not isinstance(path, str):
        raise TypeError(f"{arg} must hold dotted path strings, got {path!r}")
    parts = tuple(path.split("."))
    if not path or not all(parts):
        raise ValueError(f"{arg}: {path!r} is not a dotted path like 'event_properties.email'")
    return parts


def read_path(event: Mapping[str, Any], parts: Tuple[str, ...]) -> Any:
    """The value at ``parts``, or ``None`` when a level is missing or not a dict."""
    value: Any = event
    for part in parts:
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def build_tree(paths: Iterable[str], arg: str) -> PathTree:
    """Group paths by segment; a path that is a prefix of another wins (it covers it)."""
    tree: PathTree = {}
    for path in paths:
        node = tree
        parts = parse_path(path, arg)
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if last:
                node[part] = None
                break
            child = node.get(part, {})
            if child is None:  # an ancestor is already covered whole
                break
            node[part] = child
            node = child
    return tree


Leaf = Callable[[Dict[str, Any], str], None]
"""What to do at the end of a path: ``leaf(the copied dict, key)`` (remove or replace)."""


def _rewrite_dict(value: Mapping[str, Any], tree: PathTree, leaf: Leaf) -> Mapping[str, Any]:
    """``value`` with ``tree`` applied: the same object when nothing matched, else a copy."""
    out: Dict[str, Any] | None = None
    for key, sub in tree.items():
        if key not in value:
            continue
        if sub is None:
            if out is None:
                out = dict(value)
            leaf(out, key)
            continue
        child = value[key]
        if isinstance(child, Mapping):
            new = _rewrite_dict(child, sub, leaf)
            if new is not child:
                if out is None:
                    out = dict(value)
                out[key] = new
    return value if out is None else out


def _rewrite_group(value: Mapping[str, Any], tree: PathTree, leaf: Leaf) -> Mapping[str, Any]:
    """Like ``_rewrite_dict``, and again inside each ``$operation`` dict of the group."""
    out = _rewrite_dict(value, tree, leaf)
    for key, child in value.items():
        if type(key) is str and key.startswith("$") and isinstance(child, Mapping):
            new = _rewrite_dict(child, tree, leaf)
            if new is not child:
                if out is value:
                    out = dict(value)
                out[key] = new  # type: ignore[index]
    return out


def rewrite(event: Dict[str, Any], tree: PathTree, leaf: Leaf) -> None:
    """Apply ``leaf`` at every path of ``tree`` present in ``event``; absent paths are no-ops.

    ``event`` itself (the client's own copy) changes in place; nested dicts are replaced by
    changed copies, never changed.
    """
    for key, sub in tree.items():
        if sub is None:
            if key in event:
                leaf(event, key)
            continue
        child = event.get(key)
        if isinstance(child, Mapping):
            if key in PROPERTY_GROUPS:
                new = _rewrite_group(child, sub, leaf)
            else:
                new = _rewrite_dict(child, sub, leaf)
            if new is not child:
                event[key] = new
