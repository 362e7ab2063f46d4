"""The leaderboard's types, shared by the tables (``leaderboard``) and the plots (``plots``)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hneuron_eval.report.runs import EvalRun


@dataclass(frozen=True)
class Column:
    """A task (or group) metric; ``members`` are the leaf tasks whose logged samples it is computed from."""

    task: str
    metric: str
    higher_is_better: bool | None
    members: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.task}/{self.metric}"

    @property
    def is_group(self) -> bool:
        return self.members != (self.task,)

    @property
    def arrow(self) -> str:
        return {True: "↑", False: "↓", None: ""}[self.higher_is_better]


@dataclass(frozen=True)
class Change:
    """A run's change on one column against its model's baseline, from the documents both logged."""

    delta: float
    ci: tuple[float, float] | None
    up: int
    down: int
    docs: int
    p: float
    q: float = math.nan
    significant: bool = False

    tested = True

    def mark(self) -> str:
        return "*" if self.significant else ""


@dataclass(frozen=True)
class Untested:
    """A run's column that has no paired test, and why (no logged samples, no shared documents, ...)."""

    reason: str
    tested = False


@dataclass
class Row:
    """One model x intervention: lm-eval's values per column and, for intervened runs, the paired changes."""

    run: EvalRun
    values: dict[str, tuple[float, float | None] | None]
    changes: dict[str, Change | Untested] = field(default_factory=dict)


@dataclass(frozen=True)
class Slope:
    """Change of a metric per unit alpha, fitted to per-configuration means over shared documents."""

    model: str
    column: Column
    arm: str  # "H-neurons" | "random controls"
    slope: float
    ci: tuple[float, float]
    configs: int
    docs: int
