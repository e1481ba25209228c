"""One-line verdicts on each paper's claim, computed from the run folders (never hard-coded).

A claim compares variants seed by seed (runs with the same seed form a pair; with one seed per
variant that is one comparison). For each seed the claim either holds, fails, or is *not measured*:
a compared run is missing, has no final evaluation, diverged before producing the number, or the
numbers cannot decide (e.g. neither run reached its steep drop). The verdict is

* ``yes`` when the claim holds in more than half of the measured seeds,
* ``no`` when it holds in half of them or fewer,
* ``not measured`` when no seed could be measured,

written e.g. ``"WN (weight) has the lowest final reconstruction loss: yes, 3 of 3 seeds"`` or
``"...: no, 1 of 2 measured seeds (not measured: seed 2: batch diverged)"``. A steep drop that
neither run reached, or that one run reached only after the other stopped, cannot decide
(:func:`gannorm.report.curves.earlier`).

Claims per architecture (:func:`study_verdicts`), each only when the study has the variants:

* dcgan (Xiang & Li): weight has the lowest final reconstruction loss; batch has a higher one than
  vanilla; weight lower than weight_affine (Table 6); weight_meanbn has a higher running loss than
  vanilla (Table 5).
* resnet (Xiang & Li 5.7): weight has the lowest final reconstruction loss.
* mlp (tutorial, "BN helps"): batch has a lower final reconstruction loss than vanilla.
* iwgan (Mullery & Whelan): each BN head reaches the steep drop earlier than tanh; the BN heads'
  peak critic-loss magnitude is below tanh's (the paper: BN + tanh "never reaches the magnitudes"
  of tanh alone, BN + clip shows "only a minimal change"); the BN heads' pixel histograms are
  closer to the data's (lower W1) than tanh's at the earliest snapshot after iteration 0.
* wgan_resnet (Wu et al.): GroupNorm (best group count per seed) has a lower final reconstruction
  loss than LayerNorm; every group count does.
* sr (Mullery & Whelan): the BN heads have a lower training perceptual loss than tanh early in
  training; bn_clip has a lower final test perceptual loss than bn_tanh; the BN heads' monitor
  outputs have a lower W1 than tanh's at the earliest snapshot after iteration 0.
* toy2d: :func:`gannorm.report.toy2d.verdict` of the study's table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from gannorm.report.curves import ReportOptions, SteepDrop, earlier, early_mean, read_snapshots, run_steep_drop, snapshot_w1

#: What a comparison of two values returns: True / False, or None = cannot tell.
Compare = Callable[[Any, Any], "bool | None"]


@dataclass
class Verdict:
    """The verdict on one claim.

    Attributes:
        claim: the claim in plain text.
        answer: ``"yes"``, ``"no"`` or ``"not measured"``.
        holds: seeds where the claim holds.
        measured: seeds where it could be measured.
        seeds: seeds in the study.
        unmeasured: ``"seed k: reason"`` for each seed not measured.
        source: who claims it (e.g. ``"Xiang & Li 2017, Table 2"``).
    """

    claim: str
    answer: str
    holds: int
    measured: int
    seeds: int
    unmeasured: list[str] = field(default_factory=list)
    source: str = ""

    def text(self) -> str:
        """The one-line verdict in plain text."""
        if self.answer == "not measured":
            why = "; ".join(self.unmeasured)
            return f"{self.claim}: not measured" + (f" ({why})" if why else "")
        unit = "seed" if self.measured == 1 else "seeds"
        count = (f"{self.holds} of {self.measured} {unit}" if self.measured == self.seeds
                 else f"{self.holds} of {self.measured} measured {unit}")
        out = f"{self.claim}: {self.answer}, {count}"
        if self.unmeasured:
            out += " (not measured: " + "; ".join(self.unmeasured) + ")"
        return out

    def latex(self) -> str:
        """:meth:`text` LaTeX-escaped, with the answer in bold."""
        from gannorm.report.latex import escape_latex

        rest = self.text()[len(self.claim) + 2 + len(self.answer):]
        return escape_latex(self.claim) + ": \\textbf{" + escape_latex(self.answer) + "}" + escape_latex(rest)


def decide(holds: int, measured: int) -> str:
    """``yes`` if the claim holds in more than half the measured seeds, ``no`` otherwise,
    ``not measured`` with none measured."""
    if measured == 0:
        return "not measured"
    return "yes" if holds * 2 > measured else "no"


def _seed_order(runs: Sequence[dict[str, Any]]) -> list[int]:
    seeds: list[int] = []
    for run in runs:
        if run["seed"] not in seeds:
            seeds.append(run["seed"])
    return seeds


def compare_seeds(claim: str, runs: Sequence[dict[str, Any]], value: Callable[[dict[str, Any]], Any],
                  better: Sequence[str], worse: Sequence[str], compare: Compare | None = None,
                  missing: Callable[[Any], bool] | None = None, source: str = "",
                  why: Callable[[dict[str, Any], Any], str] | None = None) -> Verdict:
    """Evaluate "every variant in ``better`` beats every variant in ``worse``" seed by seed.

    Args:
        claim: the claim's text.
        runs: run records (:func:`gannorm.report.tables.load_run`).
        value: a run's number (or object) for the comparison.
        better, worse: variant names; a name not among the runs makes every seed "not measured".
        compare: ``compare(a, b)`` -> True when ``a`` beats ``b``, False when not, None when it
            cannot tell; default ``a < b`` (lower is better).
        missing: whether a value counts as missing (default: NaN/None).
        why: the reason text of a missing value (default: ``"<variant> diverged"`` for a diverged
            run, else ``"<variant> has no value"``).

    Returns:
        :class:`Verdict`.
    """
    compare = compare or (lambda a, b: a < b)
    missing = missing or (lambda v: v is None or (isinstance(v, float) and not math.isfinite(v)))

    def reason(run: dict[str, Any], val: Any) -> str:
        if why is not None:
            return why(run, val)
        if run["outcome"] == "diverged":
            return f"{run['variant']} diverged"
        return f"{run['variant']} has no value"

    by_key = {(r["variant"], r["seed"]): r for r in runs}
    seeds = _seed_order(runs)
    holds = measured = 0
    unmeasured = []
    for seed in seeds:
        values, reasons = {}, []
        for variant in (*better, *worse):
            run = by_key.get((variant, seed))
            if run is None:
                reasons.append(f"no {variant} run")
                continue
            val = value(run)
            if missing(val):
                reasons.append(reason(run, val))
            values[variant] = val
        if reasons:
            unmeasured.append(f"seed {seed}: {', '.join(reasons)}")
            continue
        results = [compare(values[a], values[b]) for a in better for b in worse]
        if any(r is None for r in results) and all(r is not False for r in results):
            unmeasured.append(f"seed {seed}: cannot tell {', '.join(_undecided(values, better, worse, compare))}")
            continue
        measured += 1
        holds += all(r is True for r in results)
    return Verdict(claim, decide(holds, measured), holds, measured, len(seeds), unmeasured, source)


def _undecided(values: dict[str, Any], better: Sequence[str], worse: Sequence[str], compare: Compare) -> list[str]:
    return [f"{a} vs {b}" for a in better for b in worse if compare(values[a], values[b]) is None]


def _final_loss(run: dict[str, Any]) -> float:
    return run["final_loss_best"]


def _why_final(run: dict[str, Any], _value: Any) -> str:
    if run["outcome"] == "diverged":
        return f"{run['variant']} diverged"
    if not run.get("final"):
        return f"{run['variant']} has no final evaluation"
    return f"{run['variant']} has no finite final loss"


def _lowest(claim: str, runs, best: str, variants: Sequence[str], source: str, value=_final_loss, why=_why_final):
    others = [v for v in variants if v != best]
    return compare_seeds(claim, runs, value, [best], others, source=source, why=why)


def _steep_drops(runs: Sequence[dict[str, Any]], options: ReportOptions) -> dict[str, SteepDrop]:
    return {r["run_dir"]: run_steep_drop(r["run_dir"], options) for r in runs}


def _earliest_snapshot_w1(runs: Sequence[dict[str, Any]]) -> Callable[[dict[str, Any]], float]:
    """Per run: the mean-over-channels W1 at the earliest snapshot iteration > 0 that every run of
    the same seed has (NaN when there is none)."""
    snaps = {r["run_dir"]: read_snapshots(r["run_dir"]) for r in runs}
    common: dict[int, int | None] = {}
    for seed in _seed_order(runs):
        sets = [set(i for i in snaps[r["run_dir"]] if i > 0) for r in runs if r["seed"] == seed]
        shared = set.intersection(*sets) if sets else set()
        common[seed] = min(shared) if shared else None

    def value(run: dict[str, Any]) -> float:
        it = common.get(run["seed"])
        return math.nan if it is None else snapshot_w1(snaps[run["run_dir"]][it])

    value.iterations = common  # type: ignore[attr-defined]
    return value


def _why_snapshot(run: dict[str, Any], _value: Any) -> str:
    if run["outcome"] == "diverged":
        return f"{run['variant']} diverged"
    return f"no snapshot after iteration 0 shared by every {run['variant']}-seed pair"


def study_verdicts(architecture: str, runs: Sequence[dict[str, Any]], options: ReportOptions | None = None,
                   table=None) -> list[Verdict]:
    """The verdicts of a study (see the module docstring for the claims per architecture).

    Args:
        architecture: the study's architecture.
        runs: its run records (:func:`gannorm.report.tables.load_runs`).
        options: running-mean window, steep-drop and early fractions.
        table: unused for image studies; the toy study's table for :func:`gannorm.report.toy2d.verdict`.

    Returns:
        The verdicts, the paper's headline claim first; empty when the study lacks the variants
        a claim compares.
    """
    options = options or ReportOptions()
    variants = list(dict.fromkeys(r["variant"] for r in runs))
    has = set(variants).issuperset
    out: list[Verdict] = []
    if architecture == "dcgan":
        src = "Xiang & Li 2017"
        if "weight" in variants and len(variants) > 1:
            out.append(_lowest("WN (weight) has the lowest final reconstruction loss", runs, "weight", variants,
                               f"{src}, Tables 2, 6-8"))
        if has(["batch", "vanilla"]):
            out.append(compare_seeds("BN (batch) has a higher final reconstruction loss than vanilla", runs,
                                     _final_loss, ["vanilla"], ["batch"], source=f"{src}, Tables 2 and 7",
                                     why=_why_final))
        if has(["weight", "weight_affine"]):
            out.append(compare_seeds("strict WN (weight) has a lower final reconstruction loss than affine WN "
                                     "(weight_affine)", runs, _final_loss, ["weight"], ["weight_affine"],
                                     source=f"{src}, Table 6", why=_why_final))
        if has(["weight_meanbn", "vanilla"]):
            out.append(compare_seeds("WN with mean-only BN (weight_meanbn) has a higher best running "
                                     "reconstruction loss than vanilla", runs, lambda r: r["running_loss"],
                                     ["vanilla"], ["weight_meanbn"], source=f"{src}, Table 5"))
    elif architecture == "resnet":
        if "weight" in variants and len(variants) > 1:
            out.append(_lowest("WN (weight) has the lowest final reconstruction loss", runs, "weight", variants,
                               "Xiang & Li 2017, section 5.7"))
    elif architecture == "mlp":
        if has(["batch", "vanilla"]):
            out.append(compare_seeds("BN helps: batch has a lower final reconstruction loss than vanilla", runs,
                                     _final_loss, ["batch"], ["vanilla"], source="the tutorial", why=_why_final))
    elif architecture == "iwgan":
        out.extend(_iwgan_verdicts(runs, variants, options))
    elif architecture == "wgan_resnet":
        out.extend(_wu_verdicts(runs, variants))
    elif architecture == "sr":
        out.extend(_sr_verdicts(runs, variants, options))
    return out


def _iwgan_verdicts(runs, variants, options: ReportOptions) -> list[Verdict]:
    src = "Mullery & Whelan, Figure 3 and section 6"
    out: list[Verdict] = []
    if "tanh" not in variants:
        return out
    drops = _steep_drops(runs, options)
    drop = lambda r: drops[r["run_dir"]]  # noqa: E731

    def why_drop(run, value: SteepDrop) -> str:
        if math.isnan(value.last_iteration):
            return f"{run['variant']} logged no finite critic loss"
        return f"{run['variant']}'s critic loss never became negative"

    for head in ("bn_tanh", "bn_clip"):
        if head in variants:
            out.append(compare_seeds(f"{head} reaches the steep drop of the critic loss earlier than tanh", runs,
                                     drop, [head], ["tanh"], compare=earlier,
                                     missing=lambda d: not d.measured, source=src, why=why_drop))
    heads = [h for h in ("bn_tanh", "bn_clip") if h in variants]
    if heads:
        out.append(compare_seeds("the BN heads' critic loss never reaches tanh's peak magnitude", runs, drop,
                                 heads, ["tanh"], compare=lambda a, b: a.peak < b.peak,
                                 missing=lambda d: not d.measured, source=src, why=why_drop))
        out.append(compare_seeds("the BN heads' pixel histograms are closer to the data's (lower W1) than tanh's "
                                 "at the earliest snapshot", runs, _earliest_snapshot_w1(runs), heads, ["tanh"],
                                 source=src, why=_why_snapshot))
    return out


def _wu_verdicts(runs, variants) -> list[Verdict]:
    src = "Wu, Cheng & Guo, Figure 2 (Inception score)"
    groups = [v for v in variants if v.startswith("critic_gn")]
    if "critic_ln" not in variants or not groups:
        return []
    by_key = {(r["variant"], r["seed"]): r for r in runs}
    best_gn = []
    for seed in _seed_order(runs):
        values = [by_key[(g, seed)]["final_loss_best"] for g in groups if (g, seed) in by_key]
        finite = [v for v in values if math.isfinite(v)]
        ln = by_key.get(("critic_ln", seed))
        if ln is not None:
            best_gn.append({**ln, "variant": "best GroupNorm", "outcome": "completed" if finite else "no finite",
                            "final_loss_best": min(finite) if finite else math.nan, "final": {"best": True}})
    pseudo = [r for r in runs if r["variant"] == "critic_ln"] + best_gn

    def why_gn(run, _value) -> str:
        if run["variant"] == "best GroupNorm":
            return "no GroupNorm run has a finite final loss"
        return _why_final(run, _value)

    counts = f"best of {len(groups)} group counts" if len(groups) > 1 else groups[0]
    out = [compare_seeds(f"GroupNorm critic ({counts}) beats LayerNorm: lower final "
                         "reconstruction loss", pseudo, _final_loss, ["best GroupNorm"], ["critic_ln"], source=src,
                         why=why_gn)]
    if len(groups) > 1:
        out.append(compare_seeds("every GroupNorm group count beats LayerNorm (lower final reconstruction loss)",
                                 runs, _final_loss, groups, ["critic_ln"], source=src, why=_why_final))
    return out


def _sr_verdicts(runs, variants, options: ReportOptions) -> list[Verdict]:
    src = "Mullery & Whelan, Figure 2 and section 6"
    out: list[Verdict] = []
    heads = [h for h in ("bn_tanh", "bn_clip") if h in variants]
    if "tanh" in variants and heads:
        early = {r["run_dir"]: early_mean(r, "perceptual_loss", options) for r in runs}
        pct = round(100 * options.early_fraction)

        def why_early(run, _value) -> str:
            if run["outcome"] == "diverged":
                return f"{run['variant']} diverged"
            return f"{run['variant']} logged no perceptual loss through the first {pct}% of training"

        out.append(compare_seeds(f"the BN heads have a lower training perceptual loss than tanh early in training "
                                 f"(mean over the first {pct}% of iterations)", runs, lambda r: early[r["run_dir"]],
                                 heads, ["tanh"], source=src, why=why_early))
    if "bn_tanh" in variants and "bn_clip" in variants:
        def perceptual(run) -> float:
            entry = ((run.get("final") or {}).get("checkpoints") or {}).get("best") or {}
            try:
                value = float(entry.get("perceptual"))
            except (TypeError, ValueError):
                return math.nan
            return value if math.isfinite(value) else math.nan

        out.append(compare_seeds("bn_clip has a lower final test perceptual loss than bn_tanh", runs, perceptual,
                                 ["bn_clip"], ["bn_tanh"], source=src, why=_why_final))
    if "tanh" in variants and heads:
        out.append(compare_seeds("the BN heads' monitor outputs have pixel histograms closer to the data's (lower W1) "
                                 "than tanh's at the earliest snapshot", runs, _earliest_snapshot_w1(runs), heads,
                                 ["tanh"], source=src, why=_why_snapshot))
    return out


VERDICTS_HEAD = ("\\paragraph{Verdicts.} Computed from the runs, seed by seed (yes: the claim holds in more than "
                 "half of the measured seeds; not measured: a compared run is missing, diverged or cannot decide).")


def verdicts_latex(verdicts: Sequence[Verdict], extra: Sequence[str] = (), head: str = VERDICTS_HEAD) -> str:
    """The verdicts paragraph (LaTeX): ``head``, then an itemize list of :meth:`Verdict.latex` lines and
    ``extra`` lines (already LaTeX); a sentence saying there is none when both are empty."""
    lines = [v.latex() for v in verdicts] + list(extra)
    if not lines:
        return head + " This study has no variants that a published claim compares.\n"
    return head + "\n\\begin{itemize}\n" + "".join(f"\\item {line}\n" for line in lines) + "\\end{itemize}\n"
