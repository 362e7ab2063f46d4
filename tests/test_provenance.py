"""Recorded provenance: one clock, and commands that re-type the same anywhere."""

import datetime as dt
import shlex
from pathlib import Path

from hneuron_eval.core.provenance import command_line, repo_root, utc_now


def test_utc_now_is_iso_utc_to_the_second():
    stamp = dt.datetime.fromisoformat(utc_now())
    assert stamp.utcoffset() == dt.timedelta(0) and stamp.microsecond == 0
    assert abs((dt.datetime.now(dt.timezone.utc) - stamp).total_seconds()) < 5


def test_command_is_quoted_and_paths_in_the_checkout_are_relative(tmp_path):
    root = tmp_path / "checkout"
    argv = ["mask", "random", "--like", str(root / "masks" / "a b.hneurons.json"), f"--out={root}/runs/x",
            "--model", "/elsewhere/model dir", "--seed", "0", str(root / ".." / "checkout" / "masks")]
    line = command_line("hneuron-eval", argv, root=root)
    assert line == ("hneuron-eval mask random --like 'masks/a b.hneurons.json' --out=runs/x "
                    "--model '/elsewhere/model dir' --seed 0 masks")
    assert shlex.split(line)[4] == "masks/a b.hneurons.json"
    beside = str(tmp_path / "shared" / "bioasq.jsonl")  # outside the checkout, even next to it: as typed
    assert command_line("hneuron-eval", ["--bioasq", beside, "../x", f"--out={root}x"], root=root) == \
        shlex.join(["hneuron-eval", "--bioasq", beside, "../x", f"--out={root}x"])


def test_outside_a_checkout_paths_stay_as_given():
    assert command_line("hneuron-eval", ["--out", "/tmp/x y"], root=None) == "hneuron-eval --out '/tmp/x y'"


def test_this_checkout_is_found():
    root = repo_root()
    assert root is not None and (root / "pyproject.toml").is_file()
    assert command_line("hneuron-eval", [str(root / "masks" / "example.hneurons.json")]) == \
        "hneuron-eval masks/example.hneurons.json"
    assert Path(__file__).resolve().is_relative_to(root)
