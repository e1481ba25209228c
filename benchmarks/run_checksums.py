"""Checksums of every run folder's results, to prove a refactor keeps the numbers bit-identical.

    python benchmarks/run_checksums.py results/smoke > before.json     # on the old commit
    python benchmarks/run_checksums.py results/smoke --compare before.json   # after the change

Per run folder (``runs/<study>/<arch>-<variant>/seed<k>``) it hashes (SHA-256):

* ``metrics.csv`` without its ``wall_seconds`` column (wall time differs between runs),
* every file under ``checkpoints/`` (``best.pt``, ``last.pt``): the members of the ``torch.save``
  zip archive (name without the archive's top folder, and bytes), because torch names that folder
  after the file it writes to, which is a random temporary name (atomic writes), so the raw bytes
  of two identical checkpoints differ,
* every checkpoint's tensors alone (``<file>:tensors``: each tensor's key path, dtype, shape and
  bytes, loaded with ``weights_only=True``), so a change of a checkpoint's plain metadata (a key
  added) shows as a difference of the file but not of its tensors,
* ``final_eval.json`` without timing keys (``wall_seconds``, ``seconds``, ``timings``).

Runs are keyed by study, variant and seed (not by the architecture in the folder name), so a
layout change of the folder name still compares like with like. ``--compare`` prints every
difference and exits 1 when there is one, 0 when all files match.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import re
import sys
from pathlib import Path

TIMING_KEYS = {"wall_seconds", "seconds", "elapsed_seconds", "timings"}
RUN_RE = re.compile(r"^(?:.+-)?(?P<variant>[^-]+)$")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def metrics_digest(path: Path) -> str:
    """SHA-256 of metrics.csv with the ``wall_seconds`` column removed."""
    rows = list(csv.reader(io.StringIO(path.read_text())))
    if not rows:
        return _sha(b"")
    keep = [i for i, name in enumerate(rows[0]) if name != "wall_seconds"]
    text = "\n".join(",".join(row[i] for i in keep if i < len(row)) for row in rows)
    return _sha(text.encode())


def checkpoint_digest(path: Path) -> str:
    """SHA-256 over the archive members of a ``torch.save`` file (top folder name dropped), or of
    the raw bytes when it is not a zip archive."""
    import zipfile

    if not zipfile.is_zipfile(path):
        return _sha(path.read_bytes())
    digest = hashlib.sha256()
    with zipfile.ZipFile(path) as archive:
        for name in sorted(archive.namelist(), key=lambda n: n.split("/", 1)[-1]):
            digest.update(name.split("/", 1)[-1].encode() + b"\0" + archive.read(name) + b"\0")
    return digest.hexdigest()


def tensor_digest(path: Path) -> str:
    """SHA-256 over every tensor of a ``torch.save`` file (key path, dtype, shape, bytes), in key order."""
    import torch

    digest = hashlib.sha256()

    def walk(prefix: str, value) -> None:  # noqa: ANN001
        if torch.is_tensor(value):
            t = value.detach().cpu().contiguous().reshape(-1)
            digest.update(f"{prefix}|{t.dtype}|{tuple(value.shape)}".encode() + t.view(torch.uint8).numpy().tobytes())
        elif isinstance(value, dict):
            for key in sorted(value, key=str):
                walk(f"{prefix}/{key}", value[key])
        elif isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                walk(f"{prefix}/{i}", item)

    walk("", torch.load(path, map_location="cpu", weights_only=True))
    return digest.hexdigest()


def _strip_timing(value):
    if isinstance(value, dict):
        return {k: _strip_timing(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [_strip_timing(v) for v in value]
    return value


def final_eval_digest(path: Path) -> str:
    """SHA-256 of final_eval.json with timing keys removed (keys sorted)."""
    data = _strip_timing(json.loads(path.read_text()))
    return _sha(json.dumps(data, sort_keys=True).encode())


def run_checksums(results: Path) -> dict[str, str]:
    """``{"<study>/<variant>/seed<k>/<file>": sha256}`` for every run folder under ``results/runs``."""
    out: dict[str, str] = {}
    for seed_dir in sorted((results / "runs").glob("*/*/seed*")):
        study, cell, seed = seed_dir.parts[-3:]
        variant = cell.split("-", 1)[-1]
        key = f"{study}/{variant}/{seed}"
        if (seed_dir / "metrics.csv").is_file():
            out[f"{key}/metrics.csv"] = metrics_digest(seed_dir / "metrics.csv")
        for ckpt in sorted((seed_dir / "checkpoints").glob("*")):
            out[f"{key}/checkpoints/{ckpt.name}"] = checkpoint_digest(ckpt)
            out[f"{key}/checkpoints/{ckpt.name}:tensors"] = tensor_digest(ckpt)
        if (seed_dir / "final_eval.json").is_file():
            out[f"{key}/final_eval.json"] = final_eval_digest(seed_dir / "final_eval.json")
    return out


def compare(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """One line per file that is missing on one side or differs."""
    lines = []
    for key in sorted(set(before) | set(after)):
        if key not in after:
            lines.append(f"missing after: {key}")
        elif key not in before:
            if not key.endswith(":tensors"):  # a checksums file written before the tensor digests existed
                lines.append(f"new after: {key}")
        elif before[key] != after[key]:
            lines.append(f"differs: {key}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, help="results/<name>")
    parser.add_argument("--compare", type=Path, default=None, help="checksums JSON written before the change")
    args = parser.parse_args(argv)
    sums = run_checksums(args.results)
    if not sums:
        print(f"error: no run folders under {args.results / 'runs'}", file=sys.stderr)
        return 2
    if args.compare is None:
        json.dump(sums, sys.stdout, indent=1, sort_keys=True)
        print()
        return 0
    diffs = compare(json.loads(args.compare.read_text()), sums)
    for line in diffs:
        print(line)
    print(f"{len(sums)} files compared, {len(diffs)} differences")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
