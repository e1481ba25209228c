"""Training batches drawn by index from a store (docs/design.md, Engineering rules: no image is
decoded per iteration), used by the GAN and WGAN-GP objectives (:mod:`gannorm.train.gan`,
:mod:`gannorm.train.wgan_gp`); its permutation and position go into the resume checkpoints of
:mod:`gannorm.train.loop` through the objectives' ``state_dict``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gannorm.data.store import Store


class BatchSampler:
    """Draw training batches by index from the store, an epoch permutation at a time.

    The training images are copied once to ``device`` as uint8 ``(N, C, H, W)``; a batch is
    indexed and converted to float in [0, 1] on the device, so nothing is decoded per iteration.
    """

    def __init__(self, store: Store, batch_size: int, device: torch.device, generator: torch.Generator) -> None:
        if len(store.train_indices) < batch_size:
            raise ValueError(f"{store.directory}: {len(store.train_indices)} training images, fewer than "
                             f"the batch size {batch_size}")
        self.images = torch.from_numpy(np.ascontiguousarray(store.images[store.train_indices])).to(device)
        self.batch_size, self.generator = batch_size, generator
        self._order = torch.empty(0, dtype=torch.long)
        self._pos = 0

    def next(self) -> torch.Tensor:
        """A batch ``(batch_size, C, H, W)`` float32 in [0, 1]."""
        if self._pos + self.batch_size > len(self._order):
            self._order = torch.randperm(len(self.images), generator=self.generator)
            self._pos = 0
        idx = self._order[self._pos:self._pos + self.batch_size].to(self.images.device)
        self._pos += self.batch_size
        return self.images[idx].float().div_(255.0)

    def state_dict(self) -> dict[str, Any]:
        """The current epoch permutation (int64 ``(N,)``, CPU) and position in it. The generator's
        state is saved separately (it also draws z)."""
        return {"order": self._order.clone(), "pos": self._pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s permutation and position."""
        self._order = state["order"].clone().to(torch.long)
        self._pos = int(state["pos"])
