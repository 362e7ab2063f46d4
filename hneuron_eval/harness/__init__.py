"""Inside lm-eval: the hneuron-hf model, the detector, the built-in models, sweeps and export."""
