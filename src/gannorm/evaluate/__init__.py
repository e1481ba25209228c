"""Evaluation: the final evaluation of a run (docs/design.md, Layout); the metrics it
shares with training live in :mod:`gannorm.metrics`."""
