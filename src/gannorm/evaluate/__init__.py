"""Evaluation: the final evaluation of a run (DESIGN.md section 2, ``evaluate/``); the metrics it
shares with training live in :mod:`gannorm.metrics`."""
