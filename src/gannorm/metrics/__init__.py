"""Metrics used by both training (running evaluation, snapshots) and evaluation (docs/design.md,
Layout): the reconstruction loss of Xiang & Li (:mod:`.reconstruction`), pixel
histograms and their Wasserstein-1 distance (:mod:`.histograms`), the energy distance of the 2-D
toy study (:mod:`.energy`) and the super-resolution perceptual loss network (:mod:`.perceptual`).

Imports flow one way: this package imports ``data`` and ``models`` helpers at most, never
``train`` or ``evaluate``.
"""
