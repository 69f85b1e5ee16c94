"""Writing a benchmark's figures to benchmarks/results/NAME.json, with when and where."""

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def record(name, figures):
    """Write ``figures`` (a dict) with the time and machine to results/NAME.json; return the path.

    Written to a temporary file and renamed: an interrupted run leaves the last
    complete results in place.
    """
    document = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        **figures,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    partial = path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(document, indent=2) + "\n")
    partial.replace(path)
    return path
