"""The package's house in numbers: modules, lines per wing, the import graph, its cycles and forbidden arrows.

    python scripts/house.py [--out results/house/NAME.md]

Imports are read from the source (every ``import``/``from`` statement, also inside functions), so a
lazy import counts as an arrow too. A wing is a sub-package of ``hneuron_eval`` (root modules are the
wing ``(root)``). Forbidden: any arrow from the harness or the core up into identification.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import shlex
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "hneuron_eval"
FORBIDDEN = (("hneuron_eval.harness", "hneuron_eval.identify"), ("hneuron_eval.core", "hneuron_eval.identify"),
             ("hneuron_eval.core", "hneuron_eval.harness"),
             # the modules of the harness before the wings (the "before" report)
             ("hneuron_eval.lm_model", "hneuron_eval.identify"), ("hneuron_eval.monitor", "hneuron_eval.identify"))


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``name`` imports (``from a import b`` counts ``a.b`` when that is a module)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    # a module always runs its ancestors' __init__ first; importing them is no arrow of its own
    return {m for m in found if m in known and m != name and not name.startswith(m + ".")}


def wing(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and (PACKAGE / parts[1]).is_dir()) else "(root)"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _provenance() -> list[str]:
    """The producing command as typed (relative paths), the commit the tree was at, and the date."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "hneuron_eval"],
                           capture_output=True, text=True).stdout.strip()
    when = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    return [f"Command: `{shlex.join(['python', 'scripts/house.py', *sys.argv[1:]])}` (from the checkout's root)  ",
            f"Tree: commit {commit}{' with uncommitted changes to hneuron_eval/' if dirty else ''}; date {when}."]


def report() -> str:
    mods = modules()
    graph = {m: imports(m, p, set(mods)) for m, p in mods.items()}
    # a package's __init__ importing its own children is not an arrow between wings
    lines_per_wing: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for m, p in mods.items():
        w = lines_per_wing[wing(m)]
        w[0] += 1
        w[1] += len(p.read_text(encoding="utf-8").splitlines())
    out = ["# The house", "", *_provenance(), "",
           "## Lines per wing", "", "| wing | modules | lines |", "|---|---|---|"]
    out += [f"| {w} | {n} | {lines} |" for w, (n, lines) in sorted(lines_per_wing.items())]
    out += ["", f"{len(mods)} modules, {sum(v[1] for v in lines_per_wing.values())} lines.", "",
            "## Modules", "", "| module | lines | imports |", "|---|---|---|"]
    for m, p in mods.items():
        n = len(p.read_text(encoding="utf-8").splitlines())
        short = lambda x: x.removeprefix("hneuron_eval.")  # noqa: E731
        out.append(f"| {short(m)} | {n} | {', '.join(short(x) for x in sorted(graph[m])) or '-'} |")
    wing_edges: dict[tuple[str, str], int] = defaultdict(int)
    for m, targets in graph.items():
        for t in targets:
            if wing(m) != wing(t):
                wing_edges[(wing(m), wing(t))] += 1
    out += ["", "## Arrows between wings (module imports)", "", "```mermaid", "graph LR"]
    out += [f"  {a.strip('()')} -->|{n}| {b.strip('()')}" for (a, b), n in sorted(wing_edges.items())]
    out += ["```", "", "## Import cycles between modules", ""]
    found = cycles(graph)
    out += [f"- {' <-> '.join(c)}" for c in found] or ["none"]
    out += ["", "## Forbidden arrows", ""]
    bad = [f"- {m} -> {t}" for m, targets in sorted(graph.items()) for t in sorted(targets)
           for a, b in FORBIDDEN if (m == a or m.startswith(a + ".")) and (t == b or t.startswith(b + "."))]
    out += bad or ["none (harness and core never import identification; core never imports the harness)"]
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the report here instead of printing it")
    args = parser.parse_args()
    text = report()
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
