"""Wall-clock phases of one job (training or final evaluation), for ``benchmarks/profile_demo.py``.

A job records how long it spent in each phase (``imports``: from the start of the process to the
start of the work, i.e. interpreter start-up and imports; then ``setup``, ``steps``,
``running_eval``, ``samples``, ``writes``, ... as the job names them; ``other``: the rest of the
job's own time) and writes them as ``timings`` in ``run.json`` or ``final_eval.json``. Snakemake's
benchmark file of the job adds what happens before Python starts. The values are seconds of wall
time, not results: ``benchmarks/run_checksums.py`` ignores them.

On a GPU the phases are not synchronised (that would cost the syncs they measure): queued work is
counted in the phase that waits for it.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import Iterator

_IMPORTED = time.perf_counter()


def process_age() -> float:
    """Seconds since this job's process started (Linux: ``/proc/self/stat``; elsewhere, since this
    module was imported; a job forked by :mod:`gannorm.forkserver`: since its own process started,
    ``GANNORM_JOB_STARTED``). Resolution about 10 ms."""
    started = os.environ.get("GANNORM_JOB_STARTED")
    if started:
        try:
            return max(0.0, time.time() - float(started))
        except ValueError:
            pass
    try:
        with open("/proc/self/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        started_ticks = int(fields[19])  # field 22 of proc(5): starttime, clock ticks after boot
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
        return max(0.0, uptime - started_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _IMPORTED


class Phases:
    """Accumulates the wall time of named phases: ``with phases("steps"): ...``.

    ``as_dict()`` gives ``{"imports": s, <phase>: s, ..., "other": s, "total": s}`` (seconds,
    rounded to ms); ``imports`` is the process's age when the object was made.
    """

    def __init__(self) -> None:
        self.imports = process_age()
        self._started = time.perf_counter()
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

    def timed(self, name: str):  # noqa: ANN201
        """Decorator: every call of the function counts as phase ``name``."""

        def wrap(function):  # noqa: ANN001, ANN202
            def timed_call(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
                with self(name):
                    return function(*args, **kwargs)

            return timed_call

        return wrap

    def as_dict(self) -> dict[str, float]:
        own = time.perf_counter() - self._started
        out = {"imports": round(self.imports, 3), **{k: round(v, 3) for k, v in self.seconds.items()}}
        out["other"] = round(max(0.0, own - sum(self.seconds.values())), 3)
        out["total"] = round(self.imports + own, 3)
        return out
