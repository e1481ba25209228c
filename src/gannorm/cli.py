"""Command line interface; every Snakemake rule calls one of these subcommands.

    python -m gannorm prepare  --dataset NAME --spec JSON --out DIR [--data-root DIR]
    python -m gannorm train    --store DIR --study NAME --spec JSON --architecture ARCH
                               --variant V --seed K --out RUN_DIR [--device D] [--threads N]
                               [--no-resume] [--jobs-per-gpu K] [--gpu-lock-dir DIR] [--gpu-wait S]
    python -m gannorm evaluate --store DIR --spec JSON --run RUN_DIR [--device D] [--threads N]
                               [--jobs-per-gpu K] [--gpu-lock-dir DIR] [--gpu-wait S]
    python -m gannorm report ...   (see gannorm.report.cli)
    python -m gannorm defaults [--write docs/configuration.md]   (each architecture's defaults, Markdown)
    python -m gannorm cost --configfile CONFIG ...   (FLOPs and GPU-hours of the grid, see gannorm.cost)
    python -m gannorm check-config [CONFIG ...] [--schema SCHEMA]   (read and check configs as the
                               Snakefile does; errors as file:line:column or key path, exit status 1)

``--spec`` is the dataset's or study's config entry as JSON, with the schema defaults filled in
(the rules pass it from the validated Snakemake config). The GPU options are the config's ``gpu``
section; they set this process's ``GANNORM_JOBS_PER_GPU``, ``GANNORM_GPU_LOCK_DIR`` and
``GANNORM_GPU_WAIT``, which :func:`gannorm.gpu.claim_for_job` reads before CUDA starts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence


def _json(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(f"--spec is not valid JSON: {err}") from err
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--spec must be a JSON object")
    return value


def _set_threads(threads: int) -> None:
    """Use the rule's ``threads:`` for torch (Snakemake also exports OMP_NUM_THREADS)."""
    import torch

    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    torch.set_num_threads(threads)


def _load_plugins(spec: dict) -> None:
    """Import the plug-ins the study JSON lists (``plugins``, as the Snakefile did when it read the
    config), so a job builds the normalizations and variants they register."""
    from gannorm.config import ConfigError, load_plugins

    try:
        load_plugins(spec)
    except ConfigError as err:
        raise SystemExit(f"error: {err}") from err


def _gpu_settings(args: argparse.Namespace) -> None:
    """Export ``--jobs-per-gpu``, ``--gpu-lock-dir`` and ``--gpu-wait`` (when given) to this process's
    environment for :func:`gannorm.gpu.claim_for_job`. An empty ``--gpu-lock-dir`` (the config's
    default ``gpu.lock_dir: ""``) counts as not given: ``GANNORM_GPU_LOCK_DIR`` when set, else the
    user's own folder (:func:`gannorm.gpu.default_lock_dir`)."""
    from gannorm.gpu import ENV_JOBS_PER_GPU, ENV_LOCK_DIR, ENV_WAIT

    for value, name in ((args.jobs_per_gpu, ENV_JOBS_PER_GPU), (args.gpu_lock_dir or None, ENV_LOCK_DIR),
                        (args.gpu_wait, ENV_WAIT)):
        if value is not None:
            os.environ[name] = str(value)


def _prepare(args: argparse.Namespace) -> None:
    from gannorm.data import prepare

    store = prepare(args.dataset, args.spec, args.out, args.data_root)
    meta = store.meta
    empty = [entry["class"] for entry in meta.get("skipped_classes", [])]  # imagenet: class folders without images
    print(f"{args.out}: {meta['count']} items {meta.get('shape', [None])[1:]}, train {meta['split']['train_count']}, "
          f"test {meta['split']['test_count']}, skipped {meta.get('skipped_count', 0)}"
          + (f", empty classes skipped {len(empty)}" if empty else ""))
    # The last line is also shown on the console by the prepare rule.
    skipped = int(meta.get("skipped_count", 0))
    notes = [f"{skipped} unreadable files skipped"] if skipped else []
    if empty:
        notes.append(f"{len(empty)} class folder{'s' if len(empty) > 1 else ''} without images skipped "
                     f"({', '.join(empty[:3])}{', ...' if len(empty) > 3 else ''})")
    print(f"{args.dataset}: {meta['count']} of {meta['count'] + skipped} source items used"
          + (f"; {', '.join(notes)}, listed in {args.out}/store.json" if notes else ""))


def _train(args: argparse.Namespace) -> None:
    from gannorm.provenance import resolve_device
    from gannorm.train.loop import TrainingInterrupted, train_run

    from gannorm.config import variant_spec

    _set_threads(args.threads)
    spec = variant_spec(args.spec, args.variant)  # a spec with train.variant_iterations, as the Snakefile resolves it
    architecture = spec.setdefault("architecture", args.architecture)
    if architecture is None:
        raise SystemExit("error: the --spec JSON names no architecture; pass --architecture")
    if args.architecture is not None and args.architecture != architecture:
        raise SystemExit(f"--architecture {args.architecture!r} does not match the study's architecture "
                         f"{architecture!r}")
    _load_plugins(spec)
    _gpu_settings(args)
    device = resolve_device(args.device)
    from gannorm.models.architectures import get, resolve

    # the store the architecture reads, its checksums from prepare time checked before any work
    store = resolve(get(architecture).store)(args.store)
    from gannorm.train.finished import FolderInUse, keep, restore, trainer_lock
    from gannorm.train.loop import run_fingerprint

    fingerprint = run_fingerprint(json.loads(json.dumps(spec)), study=args.study, variant=args.variant,
                                  seed=args.seed, store=store)
    try:
        with trainer_lock(args.out):  # one trainer per run folder (gannorm.train.finished)
            if not args.no_resume and restore(args.out, fingerprint, log=lambda m: print(f"{args.out}: {m}")):
                return
            result = train_run(store, spec, study=args.study, variant=args.variant, seed=args.seed,
                               out_dir=args.out, device=device, resume=not args.no_resume)
            keep(args.out, fingerprint)
    except FolderInUse as err:
        raise SystemExit(f"error: {err}") from None
    except TrainingInterrupted as err:  # SIGTERM (preemption, time limit) or SIGINT (Ctrl-C): state saved,
        print(f"{args.out}: {err}", file=sys.stderr)  # a rerun continues; exit 143 or 130 as the signal would
        raise SystemExit(err.exit_status) from err
    print(f"{args.out}: {result.outcome} after {result.iterations_done} iterations; best running evaluation "
          f"{result.best_running_recon} at iteration {result.best_iteration}")


def _evaluate(args: argparse.Namespace) -> None:
    from gannorm.metrics import fidelity

    evaluate = args.spec.get("evaluate") or {}
    if fidelity.enabled(evaluate) and not os.path.isfile(evaluate["inception_weights"]):
        # before the store's checksums, the imports and any reconstruction: one line, no traceback
        raise SystemExit(f"error: evaluate.inception_weights: {fidelity.weights_help(evaluate['inception_weights'])}")
    from gannorm.evaluate.final import evaluate_run
    from gannorm.provenance import resolve_device

    _set_threads(args.threads)
    _gpu_settings(args)
    _load_plugins(args.spec)
    from gannorm.models.checkpoint import UnreadableCheckpoint, UnsafeCheckpoint

    try:
        evaluate_run(args.store, args.spec, args.run, resolve_device(args.device))
    except (UnsafeCheckpoint, UnreadableCheckpoint) as err:  # a refused or corrupt checkpoint: one line
        raise SystemExit(f"error: {err}") from None


def _defaults(args: argparse.Namespace) -> None:
    from gannorm.models.configs import defaults_markdown, write_defaults

    if args.write:
        changed = write_defaults(args.write)
        print(f"{args.write}: defaults table {'updated' if changed else 'already up to date'}")
    else:
        sys.stdout.write(defaults_markdown())


def _check_config(args: argparse.Namespace) -> None:
    """Read ``args.configs`` (merged in order, default config.yaml) as the Snakefile does, validate and
    check them; print a one-line summary, or the error on stderr and exit with status 1."""
    from gannorm.config import ConfigError, check_config
    from gannorm.config_files import load_config_files, validate_config

    files = args.configs or ["config.yaml"]
    try:
        config = load_config_files(files)
        validate_config(config, args.schema)
        check_config(config)
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    from gannorm.config import study_cells

    runs = sum(len(study_cells(s)) for s in config["studies"].values())
    print(f"{' + '.join(map(str, files))}: valid; {len(config['studies'])} studies, {runs} training runs, "
          f"results in results/{config['name']}/")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gannorm", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("prepare", help="build a dataset store")
    p.add_argument("--dataset", required=True)
    p.add_argument("--spec", required=True, type=_json)
    p.add_argument("--out", required=True)
    p.add_argument("--data-root", default="resources")
    p.set_defaults(func=_prepare)

    for name, func, helptext in (("train", _train, "train one cell"), ("evaluate", _evaluate, "final evaluation")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--store", required=True)
        p.add_argument("--spec", required=True, type=_json)
        p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
        p.add_argument("--threads", type=int, default=1)
        if name == "train":
            p.add_argument("--study", required=True)
            p.add_argument("--architecture", default=None, help="checked against the study's architecture")
            p.add_argument("--variant", required=True)
            p.add_argument("--seed", type=int, required=True)
            p.add_argument("--out", required=True)
            p.add_argument("--no-resume", action="store_true",
                           help="ignore a resume checkpoint in RUN_DIR/resume/ and start over")
        else:
            p.add_argument("--run", required=True, help="the run folder")
        p.add_argument("--jobs-per-gpu", type=int, default=None,
                       help="jobs sharing one GPU (sets GANNORM_JOBS_PER_GPU; see gannorm.gpu)")
        p.add_argument("--gpu-lock-dir", default=None,
                       help="folder of the per-GPU lock files (sets GANNORM_GPU_LOCK_DIR; empty: "
                            "GANNORM_GPU_LOCK_DIR or the user's own folder, see gannorm.gpu)")
        p.add_argument("--gpu-wait", type=float, default=None,
                       help="seconds to wait for a free GPU slot, 0 = indefinitely (sets GANNORM_GPU_WAIT)")
        p.set_defaults(func=func)

    p = sub.add_parser("defaults", help="print each architecture's defaults as a Markdown table "
                                        "(gannorm.models.configs)")
    p.add_argument("--write", metavar="PAGE", default=None,
                   help="replace the table between the defaults markers of this file (docs/configuration.md) "
                        "instead of printing it")
    p.set_defaults(func=_defaults)

    p = sub.add_parser("check-config", help="read, validate and check config files as the Snakefile does "
                                            "(gannorm.config_files, gannorm.config)")
    p.add_argument("configs", nargs="*", metavar="CONFIG", help="config files, merged in order (default config.yaml)")
    p.add_argument("--schema", default=None, help="the config schema (default workflow/schemas/config.schema.yaml)")
    p.set_defaults(func=_check_config)

    p = sub.add_parser("report", help="tables, figures and the LaTeX report (gannorm.report.cli)", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=None)
    p = sub.add_parser("cost", help="FLOPs and GPU-hours of a config's grid (gannorm.cost)", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Run one subcommand. A result file that cannot be written (:class:`gannorm.io.WriteError`:
    disk full, quota, read-only folder) ends it with one line on stderr naming the file and the
    OS reason, and exit status 1 (what was complete before is left as it was)."""
    from gannorm.io import WriteError

    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        _run(argv)
    except WriteError as err:
        raise SystemExit(f"error: {err}") from None


def _run(argv: list[str]) -> None:
    if argv[:1] == ["report"]:
        from gannorm.report.cli import main as report_main

        report_main(argv[1:])
        return
    if argv[:1] == ["cost"]:
        from gannorm.cost import main as cost_main

        cost_main(argv[1:])
        return
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
