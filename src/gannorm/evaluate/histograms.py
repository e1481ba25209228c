"""Snapshot reading for :mod:`gannorm.report.curves`, which still imports it from here.

The histograms, their Wasserstein-1 distance and the snapshot files live in
:mod:`gannorm.metrics.histograms`; import from there. This module goes when ``report/`` does.
"""

from gannorm.metrics.histograms import SNAPSHOT_KEYS, read_snapshot  # noqa: F401
