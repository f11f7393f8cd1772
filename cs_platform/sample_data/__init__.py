"""Deterministic sample data: one coherent customer base across every source tool,
with planted stories whose ground truth is written beside the data."""

from cs_platform.sample_data.generate import Manifest, generate

__all__ = ["Manifest", "generate"]
