"""What a run did to the model: nothing, the H-neurons, or a random-neuron control."""

from __future__ import annotations

from enum import Enum


class RunKind(str, Enum):
    """Recorded as ``config.hneuron.kind`` in every results JSON and as a mask file's ``kind``."""

    BASELINE = "baseline"  # no neuron scaled (no mask, or every alpha is 1)
    HNEURONS = "hneurons"  # the neurons an identification found
    CONTROL = "control"  # random neurons with the same per-layer counts, or drawn uniformly

    def __str__(self) -> str:
        return self.value
