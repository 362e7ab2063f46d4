"""Feature files: two memory-mapped .npy matrices per set, a completed-rows counter, a header naming model and run."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from hneuron_eval.core.fileio import ArtifactMismatchError, check_identity, write_json_atomic
from hneuron_eval.errors import HNeuronError

FORMAT = "hneuron-cett-features"
DTYPES = ("float32", "float16")


class StageError(HNeuronError, RuntimeError):
    """A stage cannot go on from what the earlier stages left; the message says what to run or change."""


class FeatureStore:
    """``meta.json`` (identity, row ids, labels, span stats) + ``answer.npy`` / ``other.npy`` + ``progress.json``."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)

    @property
    def meta_path(self) -> Path:
        return self.dir / "meta.json"

    def meta(self) -> dict[str, Any]:
        try:
            return json.loads(self.meta_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(f"{self.meta_path}: no feature file here; run the 'features' stage first") from None

    def completed(self) -> int:
        path = self.dir / "progress.json"
        return json.loads(path.read_text())["completed"] if path.exists() else 0

    def create_or_resume(
        self, identity: dict[str, Any], ids: list[str], extra: dict[str, Any], width: int, dtype: str,
        order: list[int] | None = None,
    ) -> int:
        """Create empty matrices, or check an existing store is the same job; returns rows already done.

        ``order`` (a permutation of the rows) is the order ``fill`` computes them in, kept in the
        header so that a resumed fill goes on in the order it began with (default: row order).
        """
        if order is not None and sorted(order) != list(range(len(ids))):
            raise ValueError(f"order must be a permutation of the {len(ids)} rows")
        if dtype not in DTYPES:
            raise ValueError(f"feature dtype must be one of {DTYPES}, got {dtype!r}")
        if self.meta_path.exists():
            meta = self.meta()
            check_identity(self.meta_path, meta["identity"], identity)
            if meta["ids"] != ids or meta["dtype"] != dtype or meta["width"] != width:
                raise ArtifactMismatchError(
                    f"{self.meta_path}: an unfinished feature file for other rows/dtype exists "
                    f"({len(meta['ids'])} rows, {meta['dtype']}) vs requested ({len(ids)} rows, {dtype}); "
                    f"delete {self.dir} to redo it"
                )
            return self.completed()
        self.dir.mkdir(parents=True, exist_ok=True)
        for name in ("answer", "other"):
            np.lib.format.open_memmap(self.dir / f"{name}.npy", mode="w+", dtype=dtype, shape=(len(ids), width)).flush()
        write_json_atomic(self.dir / "progress.json", {"completed": 0})
        write_json_atomic(
            self.meta_path,
            {"format": FORMAT, "identity": identity, "ids": ids, "dtype": dtype, "width": width, **extra,
             **({"order": order} if order is not None else {})},
        )
        return 0

    def fill(
        self,
        n_rows: int,
        batch_size: int,
        compute: Callable[[list[int]], tuple[np.ndarray, np.ndarray]],
        desc: str = "features",
    ) -> None:
        """Compute the rows not yet done, in batches in the store's order; each fsynced before the counter moves.

        ``compute`` gets the row numbers of one batch and returns their (answer, other) rows. Rows
        go in with plain positioned writes, not through a writable memory map, so the process's
        memory stays flat however many rows the file holds.
        """
        done = self.completed()
        order = self.meta().get("order") or list(range(n_rows))
        files = {name: self.dir / f"{name}.npy" for name in ("answer", "other")}
        layout = {}
        for name, path in files.items():
            m = np.load(path, mmap_mode="r")
            layout[name] = (m.offset, m.dtype, m.shape[1] * m.dtype.itemsize)
            del m
        with open(files["answer"], "r+b") as fa, open(files["other"], "r+b") as fo, \
                tqdm(total=n_rows, initial=done, desc=desc, unit="row") as bar:
            for start in range(done, n_rows, batch_size):
                stop = min(start + batch_size, n_rows)
                index = order[start:stop]
                for f, name, rows in zip((fa, fo), ("answer", "other"), compute(index)):
                    offset, dtype, row_bytes = layout[name]
                    rows = np.ascontiguousarray(rows, dtype=dtype)
                    for position, row in zip(index, rows):
                        f.seek(offset + position * row_bytes)
                        f.write(row.tobytes())
                    f.flush()
                    os.fsync(f.fileno())
                write_json_atomic(self.dir / "progress.json", {"completed": stop})
                bar.update(stop - start)

    def load(self, expected: dict[str, Any]) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
        """Meta and read-only memory maps of a finished store, after the identity check."""
        meta = self.meta()
        if meta.get("format") != FORMAT:
            raise ArtifactMismatchError(
                f"{self.meta_path}: field 'format': expected {FORMAT!r}, got {meta.get('format')!r}"
            )
        check_identity(self.meta_path, meta["identity"], expected)
        done = self.completed()
        if done != len(meta["ids"]):
            raise StageError(
                f"{self.dir}: only {done} of {len(meta['ids'])} rows are computed; "
                "re-run the 'features' stage to finish"
            )
        return meta, np.load(self.dir / "answer.npy", mmap_mode="r"), np.load(self.dir / "other.npy", mmap_mode="r")
