"""``import amplitude_legacy`` against ``import amplitude``, each in fresh processes.

Both are timed the same way: a new interpreter, ``perf_counter`` around the import statement
alone (interpreter start-up excluded), alternating the two so load on the machine falls on
both alike; the median of the runs is reported. Both are byte-compiled first, as ``pip
install`` leaves them: an editable install under ``PYTHONDONTWRITEBYTECODE=1`` would otherwise
compile our modules from source on every import, which no user's install does.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from typing import Any, Dict, List

__all__ = ["compare", "time_import"]

MODULES = {"ours": "amplitude_legacy", "amplitude": "amplitude"}
PROBE = "import time; t = time.perf_counter(); import {m}; print(time.perf_counter() - t)"


def time_import(module: str, env: Dict[str, str]) -> float:
    """Seconds ``import module`` takes in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(m=module)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return float(out.stdout.strip().splitlines()[-1])


def compare(env: Dict[str, str], runs: int = 15) -> Dict[str, Any] | None:
    """Median import time of ours and of amplitude-analytics (``None`` if it is missing)."""
    import compileall
    from pathlib import Path

    import amplitude_legacy

    compileall.compile_dir(str(Path(amplitude_legacy.__file__).parent), quiet=1)
    times: Dict[str, List[float]] = {name: [] for name in MODULES}
    try:
        for _ in range(runs):
            for name, module in MODULES.items():
                times[name].append(time_import(module, env))
    except subprocess.CalledProcessError:
        return None
    medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
    return {
        "runs": runs,
        "ours_ms": round(medians["ours"], 1),
        "amplitude_ms": round(medians["amplitude"], 1),
        "ratio": round(medians["ours"] / medians["amplitude"], 2),
    }
