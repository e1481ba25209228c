"""The 2-D toy distribution of Johannsmeier (2022), "Batch Normalization in GANs: Blind Spots and
Unintuitive Behavior", section "Setting The Stage".

The post shows its data only as a scatter plot (``figure_data.svg``, 2,048 "real" points beside
2,048 points of the N(0, I2) noise). Read back from that figure's point coordinates, the data is a
*banana*: a parabola opening to the right (+x) with Gaussian scatter across it,

    u1, u2 ~ N(0, 1) independent
    y = offset_y + spread * u2
    x = offset_x + curvature * (spread * u2) ** 2 + noise * u1

A least-squares fit to 113 of the figure's points gives ``curvature`` 0.53 (0.5 here), residual
scatter ``noise`` 0.97 (1.0 here) and a y standard deviation of 1.70 (``spread`` 1.7 here).
The defaults give mean ~ (1.45, 0) and std ~ (2.3, 1.7): the distribution sits away from the
origin (where the generator starts and where the noise is centred), it is skewed (x has a long
right tail) and curved, so it is not Gaussian and an affine shift of the generated points (the
post's "shift incentive" pushes them along +x) is visible by eye and in the mean.

Dataset config (``datasets.<name>``, all optional except ``source``):

=================  ==========  ==============================================================
key                default     meaning
=================  ==========  ==============================================================
``source``         ``toy2d``   this module
``points``         4096        points drawn in all (train + test)
``test_images``    2048        held-out points (the name is shared with the image sources);
                               the remaining 2,048 are the post's full training population
``split_seed``     0           seed of the train/test split
``seed``           0           seed of the draw of the points
``spread``         1.7         std of y (before the offset)
``curvature``      0.5         x = curvature * y**2 + ...
``noise``          1.0         std of the Gaussian scatter along x
``offset``         [0, 0]      added to every point
=================  ==========  ==============================================================

The points are checked before a store is written and when the config is checked
(:func:`check_points`): every point finite in float32 (what ``points.npy`` and training hold; an
``offset`` of 1e39, or a ``spread`` of 1e30 that ``curvature * y**2`` takes past 3.4e38, is an
error naming that key) and a spread above zero on both axes (an offset that swamps the spread in
float32 is one too).

Files of a toy store folder: ``points.npy`` (float32 ``(N, 2)``) and ``store.json``, written
last and atomically, so a folder with a ``store.json`` is complete.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gannorm.io import atomic_path, read_json, write_json

FORMAT = "gannorm-toy2d/1"
POINTS_NAME = "points.npy"
SIDECAR_NAME = "store.json"

#: Defaults of the dataset config keys (see the module docstring).
DEFAULTS: dict[str, Any] = {"points": 4096, "test_images": 2048, "split_seed": 0, "seed": 0, "spread": 1.7,
                            "curvature": 0.5, "noise": 1.0, "offset": [0.0, 0.0]}


#: The largest finite float32.
FLOAT32_MAX = float(np.finfo(np.float32).max)


class Toy2DError(RuntimeError):
    """A toy store folder is missing, incomplete or corrupt (the message names the file)."""


def resolved_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with :data:`DEFAULTS` filled in (``source`` kept)."""
    out = {"source": "toy2d", **DEFAULTS, **{k: v for k, v in spec.items() if v is not None}}
    out["offset"] = [float(v) for v in out["offset"]]
    return out


def sample_banana(count: int, *, seed: int = 0, spread: float = 1.7, curvature: float = 0.5, noise: float = 1.0,
                  offset: tuple[float, float] | list[float] = (0.0, 0.0)) -> np.ndarray:
    """Draw ``count`` points of the banana distribution (module docstring).

    Returns:
        float32 array ``(count, 2)``; columns x, y.

    Raises:
        ValueError: ``count`` < 1, or a negative ``spread``/``noise``.
    """
    points, _ = _draw(count, seed=seed, spread=spread, curvature=curvature, noise=noise, offset=offset)
    with np.errstate(over="ignore", invalid="ignore"):  # non-finite points are check_points' to report
        return points.astype(np.float32)


def _draw(count: int, *, seed: int, spread: float, curvature: float, noise: float,
          offset: tuple[float, float] | list[float]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The float64 points ``(count, 2)`` before the float32 cast, and their parts without the
    offset (``"y"``: spread * u2, ``"scatter"``: noise * u1, ``"x"``: curvature * y**2 + scatter,
    ``"u2"``: the draws of y)."""
    if count < 1:
        raise ValueError(f"points must be positive, got {count}")
    if spread < 0 or noise < 0:
        raise ValueError(f"spread and noise must be >= 0, got {spread}, {noise}")
    u = np.random.default_rng(seed).standard_normal((count, 2))
    with np.errstate(over="ignore", invalid="ignore"):
        y = spread * u[:, 1]
        scatter = noise * u[:, 0]
        x = curvature * y ** 2 + scatter
        points = np.stack([x, y], axis=1) + np.asarray(offset, dtype=np.float64)
    return points, {"x": x, "y": y, "scatter": scatter, "u2": u[:, 1]}


def _finite32(values: np.ndarray) -> bool:
    """Whether every value is finite once cast to float32 (what training computes in)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(np.asarray(values, dtype=np.float64).astype(np.float32)).all())


def _biggest(values: np.ndarray) -> str:
    """The largest magnitude among ``values`` (NaNs left out), for messages."""
    magnitudes = np.abs(np.asarray(values, dtype=np.float64))
    magnitudes = magnitudes[~np.isnan(magnitudes)]
    return f"{magnitudes.max():.3g}" if magnitudes.size else "nan"


def check_points(spec: dict[str, Any], dataset: str = "toy2d") -> None:
    """Check that the points a toy dataset config draws can be trained on: every point finite in
    float32 (the dtype of ``points.npy`` and of training, checked after the cast) and a spread
    (std of the training points) above zero on both axes in float32. Draws the points as
    :func:`prepare_toy2d` does (cheap: 2 floats a point), so it runs when the config is checked
    (:func:`gannorm.config.check_dataset`) and again before a store is written.

    Raises:
        ValueError: naming the config key to change, ``datasets.<dataset>.<key>: ...``, the largest
            value found and the float32 range (or that the spread is zero); also a ``points``,
            ``test_images``, ``spread`` or ``noise`` out of range.
    """
    from gannorm.data.store import split_indices

    spec = resolved_spec(spec)
    key = f"datasets.{dataset}"
    offset = np.asarray(spec["offset"], dtype=np.float64)
    count, test_count = int(spec["points"]), int(spec["test_images"])
    points, parts = _draw(count, seed=int(spec["seed"]), spread=float(spec["spread"]),
                          curvature=float(spec["curvature"]), noise=float(spec["noise"]), offset=spec["offset"])
    if not _finite32(points):
        if not _finite32(offset):
            field, values = "offset", offset
        elif not _finite32(parts["y"]):
            field, values = "spread", parts["y"]
        elif not _finite32(parts["scatter"]):
            field, values = "noise", parts["scatter"]
        elif not _finite32(parts["x"]):  # curvature * y0**2: spread's fault if it overflows only at this spread
            unit = float(spec["curvature"]) * parts["u2"] ** 2
            field = "curvature" if float(spec["spread"]) == 0 or not _finite32(unit) else "spread"
            values = parts["x"]
        else:
            field, values = "offset", points
        raise ValueError(f"{key}.{field}: the points are not finite in float32 (|value| up to {_biggest(values)}); "
                         f"expected values within ±{FLOAT32_MAX:.2g} (spread {spec['spread']:.3g}, curvature "
                         f"{spec['curvature']:.3g}, noise {spec['noise']:.3g}; x = offset_x + curvature * y0**2 "
                         f"+ noise * u1, y = offset_y + y0, y0 = spread * u2, u ~ N(0, 1))")
    train, _ = split_indices(count, test_count, int(spec["split_seed"]))
    train32 = points[train].astype(np.float32)
    for axis, name in ((1, "y"), (0, "x")):
        if train32[:, axis].astype(np.float64).std() > 0:
            continue
        unshifted = parts[name][train].astype(np.float32)
        if unshifted.astype(np.float64).std() > 0:
            field, why = "offset", (f"the offset {offset[axis]:.3g} swamps the {name} spread in float32 "
                                    f"(every training {name} is {float(train32[0, axis]):.7g})")
        elif axis == 1:
            field, why = "spread", f"spread {spec['spread']:.3g} gives y no spread in float32"
        else:
            field, why = "noise", (f"noise {spec['noise']:.3g} and curvature {spec['curvature']:.3g} give x "
                                   "no spread in float32")
        raise ValueError(f"{key}.{field}: the points have zero spread along {name}: {why}; expected a std of the "
                         "training points above zero on both axes")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def prepare_toy2d(spec: dict[str, Any], out_dir: str | os.PathLike, dataset: str = "toy2d") -> Path:
    """Draw the toy points and write the store folder ``out_dir``; return it.

    Writes ``points.npy`` (float32 ``(points, 2)``), then ``store.json`` atomically and last:
    ``{"format": "gannorm-toy2d/1", "source": "toy2d", "dataset", "count", "mean", "std"
    (biased, of the training points), "split": {"seed", "train_count", "test_count",
    "test_indices"}, "spec" (resolved), "points_sha256", "created"}``.

    Raises:
        ValueError: ``test_images`` not in [1, points - 1], or bad distribution parameters; points
            not finite in float32 or with zero spread (:func:`check_points`, naming
            ``datasets.<dataset>.<key>``), checked before anything is written.
        StoreError: a statistic (``mean``, ``std``) is not finite (names the dataset and statistic).
    """
    from gannorm.data.store import check_finite_statistics, split_indices

    spec = resolved_spec(spec)
    check_points(spec, dataset)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / SIDECAR_NAME).unlink(missing_ok=True)  # never a new array under an old sidecar
    count, test_count = int(spec["points"]), int(spec["test_images"])
    points = sample_banana(count, seed=int(spec["seed"]), spread=float(spec["spread"]),
                           curvature=float(spec["curvature"]), noise=float(spec["noise"]), offset=spec["offset"])
    train, test = split_indices(count, test_count, int(spec["split_seed"]))
    train_points = points[train].astype(np.float64)
    mean, std = train_points.mean(axis=0), train_points.std(axis=0)
    check_finite_statistics(dataset, {"mean": mean, "std": std}, where=str(out_dir / SIDECAR_NAME))
    with atomic_path(out_dir / POINTS_NAME) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, points)
    sidecar = {"format": FORMAT, "source": "toy2d", "dataset": dataset, "count": count,
               "mean": mean.tolist(), "std": std.tolist(),
               "split": {"seed": int(spec["split_seed"]), "train_count": int(len(train)),
                         "test_count": int(len(test)), "test_indices": test.tolist()},
               "spec": spec, "points_sha256": _sha256(out_dir / POINTS_NAME),
               "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    write_json(out_dir / SIDECAR_NAME, sidecar, allow_nan=False)
    return out_dir


def prepare(dataset: str, spec: dict[str, Any], out_dir: str | os.PathLike, data_root: Any = None) -> "Toy2D":
    """The data-source interface of :mod:`gannorm.data` (``data_root`` unused): prepare and open."""
    return open_toy2d(prepare_toy2d(spec, out_dir, dataset=dataset))


@dataclass
class Toy2D:
    """An opened toy store.

    Attributes:
        directory: the store folder.
        train: float32 ``(train_count, 2)``, the training population (all of it is one batch).
        test: float32 ``(test_count, 2)``, held-out points for evaluation.
        meta: the parsed ``store.json``.
    """

    directory: Path
    train: np.ndarray
    test: np.ndarray
    meta: dict[str, Any]

    @property
    def mean(self) -> np.ndarray:
        """float64 ``(2,)``: mean of the training points."""
        return np.asarray(self.meta["mean"], dtype=np.float64)

    @property
    def std(self) -> np.ndarray:
        """float64 ``(2,)``: biased std of the training points."""
        return np.asarray(self.meta["std"], dtype=np.float64)

    @property
    def content_checksum(self) -> str | None:
        """SHA-256 (hex) of ``points.npy`` recorded at prepare time (``store.json``'s
        ``points_sha256``; checked by :func:`open_toy2d`). Part of a training run's fingerprint
        (:func:`gannorm.train.loop.fingerprint_parts`), as :attr:`gannorm.data.store.Store.content_checksum`."""
        return self.meta.get("points_sha256")

    def data_info(self) -> dict[str, Any]:
        """The ``data`` dict for :func:`gannorm.models.toy2d.build`: ``{"dims": 2, "mean", "std"}``."""
        return {"dims": 2, "mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}


def open_toy2d(directory: str | os.PathLike | Toy2D) -> Toy2D:
    """Open a toy store folder written by :func:`prepare_toy2d` (an opened one is returned as is).

    Raises:
        Toy2DError: ``store.json`` or ``points.npy`` is missing, unreadable, of the wrong format,
            shape or dtype, or its checksum does not match the sidecar; the message names the file.
    """
    if isinstance(directory, Toy2D):
        return directory
    directory = Path(directory)
    sidecar, array = directory / SIDECAR_NAME, directory / POINTS_NAME
    if not sidecar.is_file():
        raise Toy2DError(f"{sidecar}: missing; the toy store is not prepared (or its preparation was interrupted)")
    try:
        meta = read_json(sidecar)
    except ValueError as err:
        raise Toy2DError(str(err)) from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else None
        raise Toy2DError(f"{sidecar}: not a toy2d store sidecar (format {found!r}, expected {FORMAT!r})")
    if not array.is_file():
        raise Toy2DError(f"{array}: missing (sidecar {sidecar} exists)")
    if meta.get("points_sha256") and _sha256(array) != meta["points_sha256"]:
        raise Toy2DError(f"{array}: checksum does not match {sidecar}; file truncated or altered")
    try:
        points = np.load(array, allow_pickle=False)
    except Exception as err:  # noqa: BLE001 - numpy raises several types
        raise Toy2DError(f"{array}: unreadable ({type(err).__name__}: {err})") from err
    if points.dtype != np.float32 or points.ndim != 2 or points.shape[1] != 2 or len(points) != meta.get("count"):
        raise Toy2DError(f"{array}: expected float32 ({meta.get('count')}, 2), found {points.dtype} {points.shape}")
    try:
        test_idx = np.asarray(meta["split"]["test_indices"], dtype=np.int64)
    except (KeyError, TypeError) as err:
        raise Toy2DError(f"{sidecar}: no split.test_indices") from err
    if len(test_idx) == 0 or test_idx.min() < 0 or test_idx.max() >= len(points):
        raise Toy2DError(f"{sidecar}: split.test_indices out of range for {len(points)} points")
    mask = np.zeros(len(points), dtype=bool)
    mask[test_idx] = True
    return Toy2D(directory=directory, train=points[~mask], test=points[mask], meta=meta)
