"""An ImageNet subset as a paired store for 4x super-resolution (Mullery & Whelan 2018).

Raw files: an ILSVRC-style training folder, ``<data_root>/imagenet/train/<wnid>/<file>.JPEG``
(e.g. ``ILSVRC/Data/CLS-LOC/train`` of the ImageNet download, linked or copied there), or any
folder of class subfolders holding JPEG/PNG images (``folder``: a path relative to
``<data_root>/imagenet`` or absolute; default ``train``). ImageNet cannot be downloaded
automatically (it needs an account at https://image-net.org); the download rule only checks.

Selection (deterministic):

1. classes: every subfolder, sorted by name, or only those listed in ``classes_file`` (one
   class folder name per line, ``#`` comments; relative to ``<data_root>/imagenet`` or absolute);
2. candidates: the image files of those classes, sorted by (class, file name);
3. with ``max_images`` (19,439 in the paper), candidates are visited in a random order
   (``split_seed``) until ``max_images`` usable images are found; a corrupt file is skipped,
   listed, and replaced by the next candidate. Without ``max_images`` all candidates are used.
   A class folder with no image file is skipped too, listed in the sidecar's ``skipped_classes``
   and counted in ``skipped_classes_count`` (both written only when there is such a class).

Each image becomes an aligned pair: the target, ``size`` x ``size`` (288): the image is resized
so its short side is ``size`` (antialiased bicubic; with ``resize: false`` it is not resized and
images smaller than ``size`` are skipped), then centre-cropped (torchvision's coordinates); and
the input, that target downsampled by ``scale`` (4, so 72 x 72) with antialiased bicubic
interpolation, as Johnson et al. (2016) prepare super-resolution inputs. Targets go to
``images.npy``, inputs to ``inputs.npy`` (same index).

Monitor image (out of set, Mullery & Whelan's progress image): ``monitor`` names a file
(relative to the folder, or absolute; it is then excluded from the candidates); by default it is the first readable image (sorted) of the
first class folder that is not used, else the first readable candidate not taken into the store.
Its target and input are saved as ``monitor_hr.png`` and ``monitor_lr.png`` in the store folder
and described in the sidecar's ``monitor``.

Source checksums: SHA-256 of ``classes_file``, and a SHA-256 over relative name and bytes of
every image read (computed while reading). The sidecar lists the image files in store order
(``image_files``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from gannorm.data.common import (IMAGE_EXTENSIONS, BadImage, Digest, Progress, center_crop, decode_rgb, file_record,
                                 guarded, log, map_ordered, record_skip, resize, resize_short_side, save_png, to_chw)
from gannorm.data.store import Store, StoreWriter

HOMEPAGE = "https://image-net.org/download.php"


def raw_dir(data_root: Path) -> Path:
    """``<data_root>/imagenet``."""
    return Path(data_root) / "imagenet"


def image_folder(spec: dict[str, Any], data_root: Path) -> Path:
    """The folder of class subfolders (``folder``, default ``<data_root>/imagenet/train``)."""
    folder = Path(spec.get("folder") or "train")
    return folder if folder.is_absolute() else raw_dir(data_root) / folder


def classes_file(spec: dict[str, Any], data_root: Path) -> Path | None:
    """The class-list file, or None."""
    if not spec.get("classes_file"):
        return None
    path = Path(spec["classes_file"])
    return path if path.is_absolute() else raw_dir(data_root) / path


def read_class_list(path: Path) -> list[str]:
    """Class folder names listed in ``path`` (one per line, ``#`` starts a comment).

    Raises:
        FileNotFoundError: the file is missing. ValueError: it lists no class.
    """
    if not path.is_file():
        raise FileNotFoundError(f"{path}: class-list file missing")
    names = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    names = [name for name in names if name]
    if not names:
        raise ValueError(f"{path}: lists no class")
    return names


def list_classes(folder: Path) -> list[str]:
    """Sorted names of the subfolders of ``folder``."""
    return sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())


def list_images(folder: Path) -> list[str]:
    """Sorted names of the image files (by extension, case-insensitive) in ``folder``."""
    return sorted(entry.name for entry in os.scandir(folder)
                  if entry.is_file() and entry.name.lower().endswith(IMAGE_EXTENSIONS))


def missing_files(spec: dict[str, Any], data_root: Path) -> list[str]:
    """What the download check could not find (empty when ready)."""
    folder = image_folder(spec, data_root)
    if not folder.is_dir():
        return [f"{folder}/<class>/<image>.JPEG (a folder of class subfolders, e.g. ILSVRC/Data/CLS-LOC/train "
                f"of ILSVRC2012/ILSVRC2017)"]
    missing = []
    classes = list_classes(folder)
    if not classes:
        missing.append(f"{folder}/<class>/<image>.JPEG (no class subfolders in {folder})")
    listed = classes_file(spec, data_root)
    if listed is not None:
        if not listed.is_file():
            missing.append(str(listed))
        else:
            missing += [f"{folder}/{name}/ (listed in {listed})" for name in read_class_list(listed)
                        if name not in classes]
    if spec.get("monitor"):
        monitor = Path(spec["monitor"])
        monitor = monitor if monitor.is_absolute() else folder / monitor
        if not monitor.is_file():
            missing.append(f"{monitor} (the monitor image)")
    return missing


def make_pair(image: Any, size: int, scale: int, resize_first: bool, name: str) -> tuple[Any, Any]:
    """``(target, input)`` PIL images: the ``size`` centre crop (after the short-side resize when
    ``resize_first``) and its antialiased bicubic ``size // scale`` downsample.

    Raises:
        BadImage: ``resize_first`` is false and the image is smaller than ``size``.
    """
    if resize_first:
        image = resize_short_side(image, size)
    target = center_crop(image, size, name)
    return target, resize(target, size // scale)


def prepare(dataset: str, spec: dict[str, Any], out_dir: Path, data_root: Path) -> Store:
    """Write the paired ImageNet-subset store (keys: ``folder``, ``classes_file``, ``max_images``,
    ``size``, ``scale``, ``resize``, ``monitor``, ``test_images``, ``split_seed``; module docstring).

    Returns the opened store: ``images`` uint8 ``(N, 3, size, size)`` (targets, 0..255) and
    ``inputs`` uint8 ``(N, 3, size / scale, size / scale)``.

    A used class folder without image files is skipped and listed in the sidecar's
    ``skipped_classes`` (``[{"class", "reason"}]``) and counted in ``skipped_classes_count`` (both
    present only when there is one), beside ``skipped`` (unreadable images).

    Raises:
        FileNotFoundError: the folder, a listed class or the monitor file is missing; no used class
            holds an image file.
        ValueError: ``size`` not divisible by ``scale``; no readable monitor candidate.
        StoreError: no usable images.
    """
    folder = image_folder(spec, data_root)
    missing = missing_files(spec, data_root)
    if missing:
        raise FileNotFoundError("ImageNet files missing (see the download_imagenet rule): " + "; ".join(missing))
    size = int(spec.get("size") or 288)
    scale = int(spec.get("scale") or 4)
    if size % scale:
        raise ValueError(f"datasets.{dataset}: size {size} is not divisible by scale {scale}")
    resize_first = bool(spec.get("resize", True))
    seed = int(spec.get("split_seed", 0))
    all_classes = list_classes(folder)
    listed = classes_file(spec, data_root)
    used_classes = read_class_list(listed) if listed is not None else all_classes
    images_of = {cls: list_images(folder / cls) for cls in used_classes}
    # A used class folder without images is skipped like an unreadable image: counted, listed, logged.
    empty_classes = [{"class": cls, "reason": f"class folder holds no image files ({', '.join(IMAGE_EXTENSIONS)})"}
                     for cls in used_classes if not images_of[cls]]
    for entry in empty_classes:
        log(f"skipped class {entry['class']}/: {entry['reason']}")
    candidates = [f"{cls}/{name}" for cls in used_classes for name in images_of[cls]]
    if spec.get("monitor"):  # a named monitor image is never a training image
        candidates = [rel for rel in candidates if (folder / rel).resolve() != _monitor_path(spec, folder).resolve()]
    if not candidates:
        raise FileNotFoundError(f"{folder}: no image files ({', '.join(IMAGE_EXTENSIONS)}) in the used classes")
    max_images = spec.get("max_images")
    order = (np.random.default_rng(seed).permutation(len(candidates)) if max_images is not None
             else np.arange(len(candidates)))
    target_count = len(candidates) if max_images is None else min(int(max_images), len(candidates))
    log(f"{folder}: {len(used_classes)} classes, {len(candidates)} candidate images, taking {target_count}")
    digest = Digest()

    def load(rel: str) -> tuple[bytes, np.ndarray, np.ndarray]:
        data = (folder / rel).read_bytes()
        target, small = make_pair(decode_rgb(data, rel), size, scale, resize_first, rel)
        return data, to_chw(target), to_chw(small)

    writer = StoreWriter(out_dir, capacity=target_count, image_shape=(3, size, size),
                         input_shape=(3, size // scale, size // scale))
    files: list[str] = []
    progress = Progress(f"{dataset}: images", target_count)

    def pending():
        for index in order:
            if writer.count >= target_count:
                return
            yield candidates[index]

    with guarded(writer):
        # A small window: after the last needed image, at most a few extra files are decoded.
        for rel, result in map_ordered(load, pending(), window=32):
            if writer.count >= target_count:
                break
            if isinstance(result, BaseException):
                record_skip(writer, rel, str(result).split(": ", 1)[-1])
                continue
            data, target, small = result
            digest.update(rel, data)
            writer.add(target, small)
            files.append(rel)
            progress.step()
        taken = set(files) | {s["file"] for s in writer.skipped}
        monitor = _monitor(spec, folder, all_classes, used_classes, candidates, order, taken, size, scale,
                           resize_first, out_dir)
        log(f"{dataset}: {writer.count} pairs, {len(writer.skipped)} skipped"
            + (f", {len(empty_classes)} empty class folders skipped" if empty_classes else "")
            + f", monitor {monitor['source']}")
        source = {"name": "imagenet", "homepage": HOMEPAGE, "folder": str(folder), "classes": len(used_classes),
                  "candidates": len(candidates),
                  "selection": ("all images of the used classes" if max_images is None else
                                f"first {target_count} usable of a seed-{seed} permutation of the candidates"),
                  "files": [file_record(listed)] if listed is not None else [],
                  "images": digest.as_dict("relative name, size and bytes of every image stored, in store order")}
        extra = {"pair": {"target": size, "input": size // scale, "scale": scale,
                          "target_rule": ("short side resized to size (antialiased bicubic), then torchvision "
                                          "center_crop" if resize_first else "torchvision center_crop, no resize"),
                          "input_rule": "target resized by 1/scale, antialiased bicubic"},
                 "monitor": monitor, "image_files": files}
        if empty_classes:  # only then: the sidecars of stores without an empty class stay as they were
            extra.update(skipped_classes=empty_classes, skipped_classes_count=len(empty_classes))
        return writer.finish(dataset=dataset, source=source, test_count=int(spec.get("test_images", 2000)),
                             split_seed=seed, extra=extra)


def _monitor_path(spec: dict[str, Any], folder: Path) -> Path:
    """The named monitor image's path (``monitor`` relative to the folder, or absolute)."""
    path = Path(spec["monitor"])
    return path if path.is_absolute() else folder / path


def _monitor(spec: dict[str, Any], folder: Path, all_classes: list[str], used_classes: list[str],
             candidates: list[str], order: np.ndarray, taken: set[str], size: int, scale: int,
             resize_first: bool, out_dir: Path) -> dict[str, Any]:
    """Pick, cut and save the out-of-set monitor image; return its sidecar entry."""
    if spec.get("monitor"):
        choices = [_monitor_path(spec, folder)]
        how = "named by the monitor key"
    else:
        unused = [cls for cls in all_classes if cls not in set(used_classes) and list_images(folder / cls)]
        if unused:
            choices = [Path(unused[0]) / name for name in list_images(folder / unused[0])]
            how = f"first readable image of the first unused class {unused[0]}"
        else:
            choices = [Path(candidates[i]) for i in order if candidates[i] not in taken]
            how = "first readable candidate not in the store"
    for rel in choices:
        path = rel if rel.is_absolute() else folder / rel
        if rel.is_absolute() and path.is_relative_to(folder):
            rel = path.relative_to(folder)
        try:
            target, small = make_pair(decode_rgb(path, str(rel)), size, scale, resize_first, str(rel))
        except BadImage as err:
            if spec.get("monitor"):
                raise ValueError(f"monitor image {err}") from None
            log(f"monitor candidate {err}; trying the next")
            continue
        return {"source": rel.as_posix(), "how": how, "source_sha256": file_record(path)["sha256"],
                "hr": "monitor_hr.png", "hr_sha256": save_png(target, out_dir / "monitor_hr.png"),
                "lr": "monitor_lr.png", "lr_sha256": save_png(small, out_dir / "monitor_lr.png")}
    raise ValueError(f"{folder}: no readable out-of-set monitor image (all images are in the store); "
                     f"name one with the monitor key")
