"""Print ``name==floor`` for every ``>=`` requirement in pyproject.toml (dependencies and the test extra).

``make test-min`` installs with these as pip constraints, so the suite runs on exactly the
lowest versions the package promises to work with.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib


def floors(pyproject: Path) -> list[str]:
    """One ``name==version`` line per requirement that has a ``>=`` lower bound."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    out = []
    for req in requirements:
        match = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[[^\]]*\])?\s*>=\s*([^,;\s]+)", req)
        if match is None:
            raise SystemExit(f"{pyproject}: requirement {req!r} has no '>=' floor")
        out.append(f"{match.group(1)}=={match.group(2)}")
    return out


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    print("\n".join(floors(Path(sys.argv[1]) if len(sys.argv) > 1 else root / "pyproject.toml")))
