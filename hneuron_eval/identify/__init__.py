"""Identification pipeline: sample answers, locate answer tokens, extract CETT features, fit the probe, evaluate.

Kept import-light: each stage module loads torch / transformers / sklearn only when used.
"""
