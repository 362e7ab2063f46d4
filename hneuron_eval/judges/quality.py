"""How far each shipped judge can be trusted: its agreement with the sealed test, per task metric (``quality.json``).

``scripts/judges/seal.py`` writes the file once, when a judge is frozen and scored on the
sealed test; the leaderboard shows, under each column, the agreement of the run's judge on the
yes/no decision that column counts.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

QUALITY_FILE = Path(__file__).with_name("quality.json")


@lru_cache(maxsize=1)
def _load() -> dict[str, Any]:
    if not QUALITY_FILE.is_file():
        return {}
    return json.loads(QUALITY_FILE.read_text(encoding="utf-8"))


def metric_agreement(judge_version: str, task: str, metric: str) -> dict[str, Any] | None:
    """The sealed-test agreement (value, Wilson interval, rows) of ``judge_version`` on ``task``'s ``metric``."""
    return _load().get("judges", {}).get(judge_version, {}).get("metrics", {}).get(f"{task}/{metric}")


def sealed_test_of(judge_version: str) -> dict[str, Any] | None:
    """Where the numbers come from: the labels, the command and the date of the judge's sealed-test scoring."""
    entry = _load().get("judges", {}).get(judge_version)
    return None if entry is None else {k: v for k, v in entry.items() if k != "metrics"}
