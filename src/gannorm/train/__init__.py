"""Training: losses, the training loop, checkpoints (docs/design.md, Layout)."""
