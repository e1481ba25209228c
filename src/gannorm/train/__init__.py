"""Training: losses, the training loop, checkpoints (DESIGN.md section 2, ``train/``)."""
