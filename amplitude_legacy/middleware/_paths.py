"""Dotted paths into an event (``"event_properties.email"``, ``"ip"``), read and rewritten.

Rewrites never change a nested dict in place: ``logEvent`` copies the caller's event but not
the dicts inside it, so a nested dict may still be the caller's own. A changed level is copied
first (copy-on-write), the unchanged ones are shared.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, Mapping, Optional, Tuple

__all__ = [
    "PROPERTY_GROUPS",
    "Leaf",
    "PathTree",
    "build_tree",
    "compile_rewrite",
    "parse_path",
    "read_path",
]

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
        if isinstance(value, dict):
            value = dict.get(value, part)  # not value.get: see _common.get_field
        elif isinstance(value, Mapping):
            value = value.get(part)
        else:
            return None
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


def compile_rewrite(tree: PathTree, leaf: Leaf) -> Callable[[Dict[str, Any]], None]:
    """``apply(event)``: ``leaf`` at every path of ``tree`` present in the event; absent paths
    are no-ops.

    The event itself (the client's own copy) changes in place; nested dicts are replaced by
    changed copies, never changed. Paths one level deep outside the property groups (the
    common ``"event_properties.email"``) take an inlined fast path.
    """
    top = tuple(key for key, sub in tree.items() if sub is None)
    flat = tuple(
        (key, tuple(sub))
        for key, sub in tree.items()
        if sub is not None and key not in PROPERTY_GROUPS and all(v is None for v in sub.values())
    )
    flat_keys = {key for key, _ in flat}
    deep = tuple(
        (key, sub, _rewrite_group if key in PROPERTY_GROUPS else _rewrite_dict)
        for key, sub in tree.items()
        if sub is not None and key not in flat_keys
    )

    def apply(event: Dict[str, Any]) -> None:
        for key in top:
            if key in event:
                leaf(event, key)
        for key, keys in flat:
            child = dict.get(event, key)  # not event.get: see _common.get_field
            if type(child) is dict or isinstance(child, Mapping):
                out = None
                for name in keys:
                    if name in child:
                        if out is None:
                            out = dict(child)
                        leaf(out, name)
                if out is not None:
                    event[key] = out
        for key, sub, rewrite_child in deep:
            child = dict.get(event, key)
            if isinstance(child, Mapping):
                new = rewrite_child(child, sub, leaf)
                if new is not child:
                    event[key] = new

    return apply
