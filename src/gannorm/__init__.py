"""gannorm: a reproducible study of normalization in generative adversarial networks.

The package is organised by pipeline stage (docs/design.md, Layout): ``data`` (sources -> one
store format), ``models`` (layers and architectures), ``train`` (losses, training loop,
checkpoints), ``evaluate`` (reconstruction loss) and ``report`` (tables, figures, LaTeX).
The Snakemake rules call the command line interface in :mod:`gannorm.cli`.
"""

__version__ = "0.1.0"
