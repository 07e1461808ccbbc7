"""Turn the children's results into tables, ratios and a target check (text and JSON)."""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

__all__ = ["check_targets", "format_report", "ratios"]

Row = Dict[str, Any]
PEERS = ("amplitude", "segment", "posthog")


def _find(rows: Sequence[Row], label: str) -> Row | None:
    for row in rows:
        if row.get("label") == label and "error" not in row:
            return row
    return None


def _table(headers: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(headers)
    ]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for r in body:
        lines.append(
            "| "
            + " | ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
            + " |"
        )
    return "\n".join(lines)


def main_table(rows: Sequence[Row]) -> str:
    """One row per SDK run: call site, time, CPU, memory, wire, correctness."""
    headers = [
        "SDK", "µs/call med", "p99", "total s", "drain s", "CPU s",
        "RSS +MB", "requests", "MB wire", "B/event", "lost", "dup",
    ]  # fmt: skip
    body = []
    for r in rows:
        if "error" in r:
            body.append([r["label"], "error: " + r["error"][:60], *[""] * 10])
            continue
        body.append(
            [
                r["label"],
                f"{r['call_median_us']:.2f}",
                f"{r['call_p99_us']:.2f}",
                f"{r['total_s']:.3f}",
                f"{r['drain_s']:.3f}",
                f"{r['cpu_s']:.2f}",
                f"{r['rss_over_base_mb']:.1f}",
                str(r["requests"]),
                f"{r['wire_bytes'] / 1e6:.2f}",
                f"{r['bytes_per_event']:.0f}",
                str(r["lost"]),
                str(r["duplicates"]),
            ]
        )
    return _table(headers, body)


def curve_table(rows: Sequence[Row]) -> str:
    """Our cost per event against the burst size."""
    headers = [
        "events",
        "µs/call med",
        "p99",
        "total s",
        "µs/event total",
        "CPU µs/event",
        "RSS +MB",
        "lost",
        "dup",
    ]
    body = [
        [
            f"{r['events']:,}",
            f"{r['call_median_us']:.2f}",
            f"{r['call_p99_us']:.2f}",
            f"{r['total_s']:.3f}",
            f"{r['total_us_per_event']:.2f}",
            f"{r['cpu_s'] / r['events'] * 1e6:.2f}",
            f"{r['rss_over_base_mb']:.1f}",
            str(r["lost"]),
            str(r["duplicates"]),
        ]
        for r in rows
        if "error" not in r
    ]
    return _table(headers, body)


def ratios(rows: Sequence[Row]) -> Dict[str, Dict[str, float]]:
    """Peer / ours on total time and call-site median; ours / floor on total time."""
    ours = _find(rows, "ours")
    out: Dict[str, Dict[str, float]] = {}
    if ours is None:
        return out
    for peer in PEERS:
        row = _find(rows, peer)
        if row is not None:
            out[peer] = {
                "total_x": row["total_s"] / ours["total_s"],
                "call_site_x": row["call_median_us"] / ours["call_median_us"],
                "cpu_x": row["cpu_s"] / ours["cpu_s"],
            }
    floor = _find(rows, "floor")
    if floor is not None:
        out["floor"] = {
            "ours_over_floor_total": ours["total_s"] / floor["total_s"],
            "ours_over_floor_cpu": ours["cpu_s"] / floor["cpu_s"],
        }
    return out


def _target(name: str, goal: str, measured: str, met: bool | None, note: str = "") -> Row:
    return {"target": name, "goal": goal, "measured": measured, "met": met, "note": note}


def latency_table(rows: Sequence[Row]) -> str:
    """Total seconds per SDK at each collector latency (the 0 ms column is the main table)."""
    by_sdk: Dict[str, Dict[float, float]] = {}
    for r in rows:
        if "error" in r or r.get("group") not in ("main", "latency"):
            continue
        if r.get("group") == "main" and r["label"] not in ("ours", "floor", *PEERS):
            continue
        sdk = r["label"].split(" @")[0]
        by_sdk.setdefault(sdk, {})[float(r.get("latency_ms", 0.0))] = r["total_s"]
    latencies = sorted({ms for values in by_sdk.values() for ms in values})
    if len(latencies) < 2:
        return ""
    headers = ["SDK", *(f"{ms:g} ms" for ms in latencies), "worst/0 ms"]
    body = []
    for sdk, values in by_sdk.items():
        base = values.get(0.0)
        worst = max(values.values())
        body.append(
            [
                sdk,
                *(f"{values[ms]:.3f}" if ms in values else "-" for ms in latencies),
                f"{worst / base:.2f}x" if base else "-",
            ]
        )
    return "Total seconds for the burst against collector latency:\n" + _table(headers, body)


def check_targets(rows: Sequence[Row], imports: Dict[str, Any] | None = None) -> List[Row]:
    """The issue's targets against this run (``met`` is ``None`` when not measured)."""
    out: List[Row] = []
    ours, mw = _find(rows, "ours"), _find(rows, "ours +2 middleware")
    if ours is not None:
        m = ours["call_median_us"]
        out.append(
            _target(
                "logEvent median, no middleware",
                "≤ 3.5 µs",
                f"{m:.2f} µs",
                m <= 3.5,
                f"{m / 3.5:.2f}x the budget",
            )
        )
        slow = _find(rows, "ours @100ms")
        if slow is not None:
            x = slow["total_s"] / ours["total_s"]
            out.append(
                _target("50k burst at 100 ms latency", "≤ 1.5x ours at 0 ms", f"{x:.2f}x", x <= 1.5)
            )
        default, peer = _find(rows, "ours stdlib json"), _find(rows, "amplitude")
        if default is not None and peer is not None:
            x = peer["total_s"] / default["total_s"]
            out.append(
                _target(
                    "default install (stdlib json) vs amplitude",
                    "≥ 10x faster total",
                    f"{x:.1f}x faster",
                    x >= 10,
                )
            )
    if imports is not None:
        x = imports["ratio"]
        measured = f"{imports['ours_ms']} ms vs {imports['amplitude_ms']} ms ({x:.2f}x)"
        out.append(_target("import time vs import amplitude", "≤ 1.6x", measured, x <= 1.6))
    if mw is not None:
        m = mw["call_median_us"]
        out.append(
            _target(
                "logEvent median, 2 middleware",
                "≤ 8 µs",
                f"{m:.2f} µs",
                m <= 8,
                f"{m / 8:.2f}x the budget",
            )
        )
    if ours is not None:
        for peer, factor in (("amplitude", 10.0), ("segment", 1.0), ("posthog", 1.0)):
            row = _find(rows, peer)
            if row is None:
                continue
            x = row["total_s"] / ours["total_s"]
            goal = f"≥ {factor:g}x faster total" if factor > 1 else "faster total"
            out.append(
                _target(f"50k burst vs {peer}", goal, f"{x:.1f}x faster", x >= factor and x > 1)
            )
        floor = _find(rows, "floor")
        if floor is not None:
            x = ours["total_s"] / floor["total_s"]
            out.append(_target("within 3x of the floor", "ours/floor ≤ 3", f"{x:.2f}", x <= 3))
    cached = next((r for r in rows if r.get("mode") == "cached" and "error" not in r), None)
    if cached is not None:
        mb = cached["rss_cached_mb"]
        out.append(
            _target(
                "RSS with 100k cached events", "≤ base + 60 MB", f"base + {mb:.1f} MB", mb <= 60
            )
        )
    out.extend(_flatness(rows))
    bad = [r["label"] for r in rows if "error" not in r and (r["lost"] or r["duplicates"])]
    errors = [r["label"] for r in rows if "error" in r]
    measured = "ok" if not bad else "loss/dups in " + ", ".join(bad)
    note = ("errors: " + ", ".join(errors)) if errors else ""
    out.append(_target("no loss, no duplicates", "0 / 0", measured, not bad, note))
    return out


def _flatness(rows: Sequence[Row]) -> List[Row]:
    curve = sorted(
        (r for r in rows if r.get("group") == "curve" and "error" not in r),
        key=lambda r: r["events"],
    )
    if len(curve) < 2:
        return []
    medians = [r["call_median_us"] for r in curve]
    spread = max(medians) / min(medians)
    # Total µs/event from 10k up (1k is dominated by the fixed cost of a first request).
    tails = [r["total_us_per_event"] for r in curve if r["events"] >= 10_000]
    tail_spread = max(tails) / min(tails) if len(tails) > 1 else 1.0
    return [
        _target(
            "flat call-site cost 1k→1M", "max/min median ≤ 1.5", f"{spread:.2f}", spread <= 1.5
        ),
        _target(
            "flat total cost per event 10k→1M",
            "max/min ≤ 1.5",
            f"{tail_spread:.2f}",
            tail_spread <= 1.5,
        ),
    ]


def _compare(rows: Sequence[Row], pairs: Sequence[Tuple[str, str]], title: str) -> str:
    body = []
    for base_label, label in pairs:
        base, row = _find(rows, base_label), _find(rows, label)
        if base is None or row is None:
            continue
        for r in (base, row):
            body.append(
                [
                    r["label"],
                    f"{r['wire_bytes'] / 1e6:.2f}",
                    f"{r['bytes_per_event']:.0f}",
                    f"{r['cpu_s']:.2f}",
                    f"{r['call_median_us']:.2f}",
                    f"{r['total_s']:.3f}",
                    f"{r['drain_s']:.3f}",
                ]
            )
    if not body:
        return ""
    headers = ["run", "MB wire", "B/event", "CPU s", "µs/call med", "total s", "drain s"]
    return f"{title}\n" + _table(headers, body)


def format_report(result: Dict[str, Any]) -> str:
    """The whole text report: machine, main table, ratios, comparisons, curve, targets."""
    rows: List[Row] = result["rows"]
    m = result["machine"]
    parts = [
        f"Machine: {m['nproc']} CPU ({m['cpu']}), Python {m['python']}, {m['platform']}; "
        f"JSON: {result['json_lib']}; events: {result['events']:,}; "
        f"median of {result.get('repeat', 1)} run(s) per SDK; load average (1 min) "
        f"{m.get('loadavg_1m_at_start')} at start, {m.get('loadavg_1m_at_end')} at end",
        "",
        main_table([r for r in rows if r.get("group") == "main"]),
        "",
    ]
    rat = result["ratios"]
    for peer in PEERS:
        if peer in rat:
            x = rat[peer]
            parts.append(
                f"{peer} / ours: total {x['total_x']:.1f}x, "
                f"call site {x['call_site_x']:.1f}x, CPU {x['cpu_x']:.1f}x"
            )
    if "floor" in rat:
        x = rat["floor"]
        parts.append(
            f"ours / floor: total {x['ours_over_floor_total']:.2f}x, "
            f"CPU {x['ours_over_floor_cpu']:.2f}x"
        )
    for text in (
        _compare(rows, [("ours", "ours gzip")], "\ngzip (ours):"),
        _compare(
            rows,
            [("ours", "ours spool on_failure"), ("ours", "ours spool always")],
            "\ndurable spool (ours):",
        ),
        _compare(
            rows,
            [("ours", "ours stdlib json"), ("floor", "floor stdlib json")],
            "\norjson vs stdlib json:",
        ),
    ):
        if text:
            parts.append(text)
    curve = [r for r in rows if r.get("group") in ("curve",)]
    if curve:
        parts += ["", "Cost per event against burst size (ours):", curve_table(curve)]
    cached = [r for r in rows if r.get("group") == "cached" and "error" not in r]
    for r in cached:
        parts.append(
            f"{r['events']:,} events cached in memory: RSS base + {r['rss_cached_mb']:.1f} MB "
            f"({r['rss_cached_mb'] * 2**20 / r['events']:.0f} B/event); "
            f"delivered after flush, lost {r['lost']}"
        )
    latency = latency_table(rows)
    if latency:
        parts += ["", latency]
    imports = result.get("imports")
    if imports:
        parts += [
            "",
            f"import time (median of {imports['runs']} fresh processes): amplitude_legacy "
            f"{imports['ours_ms']} ms, amplitude {imports['amplitude_ms']} ms "
            f"({imports['ratio']:.2f}x)",
        ]
    parts += ["", "Targets:"]
    for t in result["targets"]:
        mark = {True: "MET ", False: "MISS", None: "n/a "}[t["met"]]
        note = f" ({t['note']})" if t["note"] else ""
        parts.append(f"  [{mark}] {t['target']}: {t['measured']} (goal {t['goal']}){note}")
    skipped = result.get("skipped") or {}
    for sdk, why in skipped.items():
        parts.append(f"  skipped {sdk}: {why}")
    profile = next((r.get("profile") for r in rows if r.get("profile")), None)
    if profile:
        parts += ["", "cProfile of the caller's thread (top 15 by tottime):", profile]
    return "\n".join(parts)
