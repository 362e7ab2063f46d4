"""Rewrite machine paths in recorded results as paths relative to the checkout (records read the same anywhere).

usage: python scripts/relativize_paths.py PATH [PATH ...]
In every .json/.jsonl/.md/.log/.txt file under the given files or folders: this checkout's
absolute root becomes relative ("tasks/hn_triviaqa.yaml"), a folder beside it becomes
"../NAME/..." (the offline data in ../shared), and the built-in model cache under the home
folder becomes "~/.cache/hneuron-eval/...". Only paths change; files without them are left
untouched, and each rewrite is atomic.
"""

from __future__ import annotations

import sys
from pathlib import Path

from hneuron_eval.core.fileio import atomic_path

ROOT = Path(__file__).resolve().parents[1]
SUFFIXES = {".json", ".jsonl", ".md", ".log", ".txt"}


def replacements() -> list[tuple[str, str]]:
    """(absolute prefix, relative form), most specific first."""
    home = str(Path.home())
    return [(f"{ROOT}/", ""), (f"{ROOT.parent}/", "../"), (f"{home}/.cache/hneuron-eval/", "~/.cache/hneuron-eval/")]


def relativize(path: Path) -> bool:
    """Rewrite one file byte for byte but for the paths (line endings and progress-bar carriage returns kept)."""
    data = path.read_bytes()
    new = data
    for old, rel in replacements():
        new = new.replace(old.encode(), rel.encode())
    if new != data:
        with atomic_path(path) as tmp:
            tmp.write_bytes(new)
    return new != data


def main(paths: list[str]) -> None:
    if not paths:
        raise SystemExit(__doc__)
    files = [
        p
        for arg in paths
        for p in ([Path(arg)] if Path(arg).is_file() else sorted(Path(arg).rglob("*")))
        if p.is_file() and p.suffix in SUFFIXES
    ]
    changed = sum(relativize(p) for p in files)
    print(f"relativized paths in {changed} of {len(files)} files")


if __name__ == "__main__":
    main(sys.argv[1:])
