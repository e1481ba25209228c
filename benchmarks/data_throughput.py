"""Data throughput: batches from the store vs decoding JPEGs per batch; preparation speed.

    python benchmarks/data_throughput.py [--images 1024] [--batch-size 32] [--batches 100] [--workers 0 2]

Training side, at 160 px (CelebA) and 32 px (CIFAR-10): batches per second drawn

* from the store the way training draws them (``gannorm.train.sampler.BatchSampler``: the training
  images as one uint8 tensor, a batch indexed and converted to float in [0, 1]);
* from the store's memory map, indexing ``images.npy`` per batch (the path for a store larger
  than RAM, e.g. full LSUN);
* with torchvision's ``ImageFolder`` + ``DataLoader`` decoding the JPEGs every batch
  (``ToTensor``), with 0 and N loader worker processes.

Preparation side: images per second of the CelebA source (178x218 JPEG -> 160 crop) and of the
ImageNet source (JPEG -> 288 target + 72 input), with 1 and N decoder threads
(``GANNORM_WORKERS``). The JPEGs are synthetic: random crops of scikit-image's bundled
photographs, so their content and file sizes are those of natural images. Everything is written
to a temporary folder and removed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def photo_crops(count: int, width: int, height: int, seed: int = 0):
    """Yield ``count`` uint8 (height, width, 3) crops of scikit-image's photographs."""
    from gannorm.data.photo_patches import DEFAULT_PHOTOS, load_photo

    from PIL import Image

    rng = np.random.default_rng(seed)
    photos = []
    for name in DEFAULT_PHOTOS:
        photo = load_photo(name)
        scale = max(width / photo.shape[1], height / photo.shape[0], 0.5)
        if scale != 1:
            image = Image.fromarray(photo).resize((max(width, round(photo.shape[1] * scale)),
                                                   max(height, round(photo.shape[0] * scale))), Image.BICUBIC)
            photo = np.asarray(image)
        photos.append(photo)
    for i in range(count):
        photo = photos[i % len(photos)]
        top = rng.integers(0, photo.shape[0] - height + 1)
        left = rng.integers(0, photo.shape[1] - width + 1)
        yield photo[top:top + height, left:left + width]


def write_jpegs(folder: Path, count: int, width: int, height: int, classes: int = 4) -> list[Path]:
    from PIL import Image

    paths = []
    for i, pixels in enumerate(photo_crops(count, width, height)):
        path = folder / f"c{i % classes}" / f"{i:06d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(pixels)).save(path, quality=90)
        paths.append(path)
    return paths


def rate(fn, batches: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    start = time.perf_counter()
    for _ in range(batches):
        fn()
    return batches / (time.perf_counter() - start)


def bench_training(tmp: Path, size: int, count: int, batch_size: int, batches: int, workers: list[int]) -> list[tuple]:
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    from gannorm.data.store import StoreWriter
    from gannorm.train.sampler import BatchSampler

    folder = tmp / f"jpeg{size}"
    write_jpegs(folder, count, size, size)
    # the same images as a store
    dataset = datasets.ImageFolder(str(folder), transform=transforms.ToTensor())
    writer = StoreWriter(tmp / f"store{size}", capacity=len(dataset), image_shape=(3, size, size))
    from PIL import Image

    for path, _ in dataset.samples:
        writer.add(np.asarray(Image.open(path).convert("RGB")).transpose(2, 0, 1).copy())
    store = writer.finish(dataset=f"bench{size}", source={}, test_count=1)
    rows = []
    sampler = BatchSampler(store, batch_size, torch.device("cpu"), torch.Generator().manual_seed(0))
    rows.append((size, "store (training: uint8 tensor, index, float)", rate(sampler.next, batches)))
    rng = np.random.default_rng(0)
    train = store.train_indices

    def from_memmap():
        idx = np.sort(rng.choice(train, batch_size, replace=False))
        return torch.from_numpy(store.images[idx]).float().div_(255.0)

    rows.append((size, "store memmap (index images.npy per batch)", rate(from_memmap, batches)))
    for n in workers:
        loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=n, drop_last=True,
                            persistent_workers=n > 0)
        state = {"it": iter(loader)}

        def next_batch():
            try:
                return next(state["it"])
            except StopIteration:
                state["it"] = iter(loader)
                return next(state["it"])

        rows.append((size, f"ImageFolder + DataLoader, JPEG decode, workers={n}",
                     rate(next_batch, min(batches, len(loader) * 3))))
        del state, loader
    return rows


def bench_preparation(tmp: Path, count: int, threads: list[int]) -> list[tuple]:
    from gannorm.data import prepare

    rows = []
    celeba = tmp / "raw" / "celeba"
    names = [p.name for p in write_jpegs(celeba / "img_align_celeba_tmp", count, 178, 218, classes=1)]
    (celeba / "img_align_celeba_tmp" / "c0").rename(celeba / "img_align_celeba")
    (celeba / "list_eval_partition.txt").write_text("".join(f"{n} {2 if i % 10 == 0 else 0}\n"
                                                            for i, n in enumerate(sorted(names))))
    write_jpegs(tmp / "raw" / "imagenet" / "train", count, 400, 350, classes=8)
    for n in threads:
        os.environ["GANNORM_WORKERS"] = str(n)
        start = time.perf_counter()
        prepare("celeba", {"source": "celeba", "test_images": 10}, tmp / f"celeba_store{n}", tmp / "raw")
        rows.append(("CelebA 178x218 JPEG -> 160 crop", n, count / (time.perf_counter() - start)))
        start = time.perf_counter()
        prepare("sr", {"source": "imagenet", "size": 288, "scale": 4, "test_images": 10,
                       "monitor": "c0/000000.jpg"}, tmp / f"sr_store{n}", tmp / "raw")
        rows.append(("ImageNet 400x350 JPEG -> 288 + 72 pair", n, (count - 1) / (time.perf_counter() - start)))
    os.environ.pop("GANNORM_WORKERS", None)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=1024, help="images per synthetic folder")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, min(4, os.cpu_count() or 1)])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPU cores, batch size {args.batch_size}, "
          f"{args.images} images per folder", flush=True)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        rows = []
        for size in (160, 32):
            rows += bench_training(tmp, size, args.images, args.batch_size, args.batches, args.workers)
        print(f"\n{'px':>4}  {'training batches from':<52} {'batches/s':>10} {'images/s':>10}")
        for size, label, value in rows:
            print(f"{size:>4}  {label:<52} {value:>10.1f} {value * args.batch_size:>10.0f}")
        prep = bench_preparation(tmp, args.images, sorted({1, max(args.workers)}))
        print(f"\n{'preparation':<42} {'threads':>7} {'images/s':>10}")
        for label, n, value in prep:
            print(f"{label:<42} {n:>7} {value:>10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
