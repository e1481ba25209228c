"""Every claim of every study, evaluated as a statistical test.

A :class:`gannorm.studies.Claim` says that its ``lower`` variants have a lower quantity than its
``higher`` variants. It is evaluated on the variants the study ran: a variant it names but the study
did not run is left out and the line says so (``not run here: ...``); the claim is ``not measured``
only when no ``lower`` or no ``higher`` variant remains. It is tested pair by pair (each ``lower``
variant against each ``higher`` one). A *best of k* claim (``best_of_lower``: the best of several
``lower`` variants, e.g. Wu et al.'s GroupNorm at its best group count; ``best_of_higher`` likewise
for a higher-is-better quantity such as the Inception score) is tested fairly: each of the ``k``
candidates is compared with the other side on its own, the candidate whose interval has the highest
lower end is reported, and every interval is Bonferroni-corrected for the ``k`` comparisons
(confidence ``1 - 0.05 / k``). Picking the best of ``k`` seed by seed on the numbers then judged
would favour the ``k`` side even when all candidates are equal (five equal group counts, three
seeds: wrongly supported in about a fifth of simulated studies); with the correction, in about 3 %
(``tests/test_claims.py`` simulates both).

* **Per seed.** The effect is ``d = (h - l) / |h|`` (a percentage; positive = the claim's
  direction) for quantities marked relative, else the difference ``h - l`` in the quantity's unit;
  ``l`` and ``h`` are the two runs' values (means over test images for per-image quantities). For
  per-image quantities on the same test images, the seed also gets a paired two-sided Wilcoxon
  signed-rank test over the images (:func:`scipy.stats.wilcoxon`).
* **Across seeds.** The mean of the per-seed effects with a 95% Student-t interval
  (:func:`scipy.stats.t.interval`, ``n - 1`` degrees of freedom, over the seeds where both runs
  were measured; ``1 - 0.05 / k`` for a best-of-``k`` claim).
* **Verdict.** ``supported`` when the interval lies above zero, ``contradicted`` when below,
  ``inconclusive`` when it contains zero or fewer than :data:`MIN_SEEDS` seeds were measured
  (the line says which), ``not measured`` when no seed was (the line says why: a run diverged, has
  no final evaluation, ...). A claim with several pairs is supported when every pair is,
  contradicted when any pair is, else inconclusive (not measured when no pair was measured). A
  best-of-``k`` claim is supported when the reported candidate is, contradicted when every
  candidate is.

Beside our effect the line prints the paper's: computed from the study's published numbers for
the same quantity when it has them (e.g. "Table 2: WN 10.5% lower than vanilla"), else the
claim's ``paper_effect`` text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from scipy import stats

from gannorm.report.runs import QUANTITIES, Measurement, ReportOptions, measure
from gannorm.studies import Claim, Published

#: Fewest measured seeds for a verdict other than inconclusive.
MIN_SEEDS = 3
#: Per-seed paired tests count as significant below this p-value.
ALPHA = 0.05
VERDICTS = ("supported", "contradicted", "inconclusive", "not measured")


@dataclass
class PairResult:
    """One ``lower`` vs ``higher`` comparison over the seeds.

    Attributes:
        lower, higher: variant names (``lower`` may be ``"best of a, b"``).
        effects: per measured seed, the effect (percent or quantity units, positive = claim holds).
        seeds: the measured seeds, parallel to ``effects``.
        p_values: per measured seed, the paired Wilcoxon p-value (NaN when the quantity is not per
            image or the images differ).
        unmeasured: ``"seed k: <variant> <why>"`` for each seed left out.
        bounds: seeds where the ``higher`` value is a lower bound (censored), so the effect is too.
        confidence: of the interval (0.95; ``1 - 0.05 / k`` for the candidates of a best-of-``k`` claim).
        best_of: ``k`` when this pair is the reported candidate of a best-of-``k`` claim, else 1.
    """

    lower: str
    higher: str
    relative: bool
    confidence: float = 0.95
    best_of: int = 1
    effects: list[float] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    p_values: list[float] = field(default_factory=list)
    unmeasured: list[str] = field(default_factory=list)
    bounds: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.effects)

    @property
    def mean(self) -> float:
        return float(np.mean(self.effects)) if self.effects else math.nan

    def interval(self) -> tuple[float, float]:
        """Student-t interval (at :attr:`confidence`) of the mean effect (NaN with fewer than two
        seeds; the point when every seed has the same effect)."""
        if self.n < 2:
            return (math.nan, math.nan)
        sem = float(stats.sem(self.effects))
        if sem == 0:
            return (self.mean, self.mean)
        low, high = stats.t.interval(self.confidence, self.n - 1, loc=self.mean, scale=sem)
        return (float(low), float(high))

    def verdict(self) -> tuple[str, str]:
        """``(verdict, reason)`` of this pair (see the module docstring)."""
        if self.n == 0:
            return "not measured", "; ".join(self.unmeasured) or "no runs"
        low, high = self.interval()
        if self.n < MIN_SEEDS:
            return "inconclusive", f"fewer than {MIN_SEEDS} seeds measured"
        if low > 0:
            return "supported", ""
        if high < 0:
            return "contradicted", ""
        return "inconclusive", "the interval contains zero"

    def text(self, said: str = "") -> str:
        """E.g. ``weight 12.3% lower than vanilla, 95% CI [8.1, 16.0], 3 seeds, paired Wilcoxon
        p < 0.05 in 3 of 3``; a reason already ``said`` (the claim's) is not repeated."""
        if self.n == 0:
            why = self.verdict()[1]
            return f"{self.lower} vs {self.higher}: not measured" + ("" if why in said else f" ({why})")
        unit = "%" if self.relative else ""
        mean = self.mean
        word = "lower" if mean >= 0 else "higher"
        out = f"{self.lower} {_fmt(abs(mean))}{unit} {word} than {self.higher}"
        low, high = self.interval()
        level = f"{100 * self.confidence:.3g}% CI" + (f" (Bonferroni, best of {self.best_of})" if self.best_of > 1 else "")
        out += f", {level} [{_fmt(low)}, {_fmt(high)}]" if not math.isnan(low) else ", no interval from 1 seed"
        out += f", {self.n} seed{'s' if self.n != 1 else ''}"
        tested = [p for p in self.p_values if not math.isnan(p)]
        if tested:
            out += (f", paired Wilcoxon p < {ALPHA:g} in {sum(p < ALPHA for p in tested)} of {len(tested)}"
                    f" (largest p {max(tested):.2g})")
        if self.bounds:
            out += " (lower bounds: " + "; ".join(self.bounds) + ")"
        unmeasured = [u for u in self.unmeasured if u not in said]
        if unmeasured:
            out += " (not measured: " + "; ".join(unmeasured) + ")"
        return out


    def short(self) -> str:
        """The effect in brief, for the verdict table: ``weight vs batch: 12.3% [8.1, 16.0], 3 seeds``
        (positive = the claim's direction; the interval at :attr:`confidence`)."""
        if self.n == 0:
            return f"{self.lower} vs {self.higher}: not measured"
        unit = "%" if self.relative else ""
        low, high = self.interval()
        ci = f" [{_fmt(low)}, {_fmt(high)}]" if not math.isnan(low) else ""
        level = f" ({100 * self.confidence:.3g}% CI, best of {self.best_of})" if self.best_of > 1 else ""
        return (f"{self.lower} vs {self.higher}: {'+' if self.mean > 0 else ''}{_fmt(self.mean)}{unit}{ci}{level}, "
                f"{self.n} seed{'s' if self.n != 1 else ''}")


def _fmt(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


@dataclass
class Verdict:
    """A claim's verdict: ``verdict`` (one of :data:`VERDICTS`), ``reason`` (for inconclusive and
    not measured), the pairs, and the paper's effect (text, may be empty)."""

    claim: Claim
    verdict: str
    reason: str
    pairs: list[PairResult]
    paper_effect: str
    absent: list[str] = field(default_factory=list)
    architecture: str | None = None

    def text(self) -> str:
        """One line: claim, verdict (reason; the claim's variants the study did not run), our effect
        per pair, the paper's effect."""
        notes = [self.reason] if self.reason else []
        if self.absent and self.verdict != "not measured":
            notes.append(f"not run here: {', '.join(self.absent)}")
        out = f"{self.claim.text}: {self.verdict}" + (f" ({'; '.join(notes)})" if notes else "")
        if self.pairs:
            out += ". Ours: " + "; ".join(p.text(self.reason) for p in self.pairs)
        out += "."
        if self.paper_effect:
            out += f" Paper: {self.paper_effect}."
        return out


def _effect(lower: float, higher: float, relative: bool) -> float:
    if relative:
        return 100.0 * (higher - lower) / abs(higher) if higher != 0 else math.nan
    return higher - lower


def _wilcoxon(a: Measurement, b: Measurement) -> float:
    """Two-sided paired Wilcoxon p-value over the images, NaN when not per image on the same images."""
    if a.per_image is None or b.per_image is None or a.indices != b.indices or len(a.per_image) < 2:
        return math.nan
    diff = a.per_image - b.per_image
    if not np.any(diff):
        return 1.0
    return float(stats.wilcoxon(a.per_image, b.per_image).pvalue)


def compare(runs: Sequence[dict[str, Any]], quantity: str, lower: str, higher: str,
            options: ReportOptions) -> PairResult:
    """Compare variant ``lower`` with variant ``higher`` seed by seed.

    Args:
        runs: run records of one study (:func:`gannorm.report.runs.load_runs`).
        quantity: a :data:`gannorm.report.runs.QUANTITIES` name.
        lower, higher: the variants the claim says are lower and higher.

    Returns:
        :class:`PairResult` over the seeds of the runs (95% interval).
    """
    by_key = {(r["variant"], r["seed"]): r for r in runs}
    result = PairResult(lower, higher, QUANTITIES[quantity].relative)
    for seed in dict.fromkeys(r["seed"] for r in runs):
        reasons, found = [], {}
        for variant in (lower, higher):
            run = by_key.get((variant, seed))
            if run is None:
                reasons.append(f"no {variant} run")
                continue
            found[variant] = m = measure(run, quantity, options)
            # a censored value (a lower bound) may stand for the higher variant: the effect is then
            # at least the one computed; never for the lower variant
            if math.isnan(m.value) or (m.censored and variant != higher):
                reasons.append(f"{variant} {m.why}")
        if reasons:
            result.unmeasured.append(f"seed {seed}: " + ", ".join(reasons))
            continue
        effect = _effect(found[lower].value, found[higher].value, result.relative)
        if math.isnan(effect):
            result.unmeasured.append(f"seed {seed}: {higher} is zero")
            continue
        if found[higher].censored:
            result.bounds.append(f"seed {seed}: {higher} {found[higher].why}, so the effect is at least this")
        result.effects.append(effect)
        result.seeds.append(int(seed))
        result.p_values.append(_wilcoxon(found[lower], found[higher]))
    return result


def best_of(candidates: Sequence[PairResult]) -> tuple[PairResult, str, str]:
    """The reported candidate of a best-of-``k`` claim and its ``(verdict, reason)``.

    Every candidate's interval is widened to ``1 - 0.05 / k`` (Bonferroni); the one with the highest
    lower end is reported (by mean effect among those without an interval). Supported when its
    interval is above zero, contradicted when every candidate's is below zero, else as
    :meth:`PairResult.verdict` says (inconclusive or not measured).
    """
    k = len(candidates)
    for pair in candidates:
        pair.confidence, pair.best_of = 1 - 0.05 / k, k

    def rank(pair: PairResult) -> tuple[int, float]:
        low = pair.interval()[0]
        return (2, low) if not math.isnan(low) else ((1, pair.mean) if pair.n else (0, 0.0))

    chosen = max(candidates, key=rank)
    verdict, reason = chosen.verdict()
    if verdict == "contradicted" and not all(p.verdict()[0] == "contradicted" for p in candidates):
        verdict, reason = "inconclusive", "the best candidate is below the other side, not every candidate"
    return chosen, verdict, reason


def paper_effect(claim: Claim, published: Published | None) -> str:
    """The paper's effect for the claim's quantity from its published numbers (e.g. ``"Xiang & Li
    2017, Table 2 (CelebA 160 px): WN 10.5% lower than vanilla"``), else ``claim.paper_effect``."""
    rows = published.rows if published is not None else {}
    relative = QUANTITIES[claim.quantity].relative
    parts = []
    lowers = claim.lower if not (claim.best_of_lower or claim.best_of_higher) else ()
    for lo in lowers:
        for hi in claim.higher:
            a, b = (rows.get(lo) or {}).get(claim.quantity), (rows.get(hi) or {}).get(claim.quantity)
            if isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isfinite(a) and math.isfinite(b):
                d = _effect(float(a), float(b), relative)
                name = lambda v: str((rows.get(v) or {}).get("label", v))  # noqa: E731
                unit = "%" if relative else ""
                parts.append(f"{name(lo)} {_fmt(abs(d))}{unit} {'lower' if d >= 0 else 'higher'} than {name(hi)}")
    if parts:
        return f"{published.source} ({published.setting.label}): " + "; ".join(parts)
    return claim.paper_effect


def evaluate(claim: Claim, runs: Sequence[dict[str, Any]], options: ReportOptions | None = None,
             published: Published | None = None) -> Verdict:
    """The :class:`Verdict` of one claim on a study's runs (see the module docstring).

    The claim is evaluated on the variants the study ran (the others are listed in
    :attr:`Verdict.absent`); it is ``not measured`` when no ``lower`` or no ``higher`` variant was run.
    """
    options = options or ReportOptions()
    present = set(r["variant"] for r in runs)
    lower = [v for v in claim.lower if v in present]
    higher = [v for v in claim.higher if v in present]
    absent = [v for v in dict.fromkeys((*claim.lower, *claim.higher)) if v not in present]
    effect = paper_effect(claim, published)
    if not lower or not higher:
        side = [v for v in (claim.higher if lower else claim.lower)]
        return Verdict(claim, "not measured", f"the study has no run of {', '.join(side)}", [], effect, absent)
    named = [r for r in runs if r["variant"] in (*lower, *higher)]
    whys = {m.why for m in (measure(r, claim.quantity, options) for r in named) if math.isnan(m.value)}
    if len(whys) == 1 and all(math.isnan(measure(r, claim.quantity, options).value) for r in named):
        # one reason for every run (e.g. "has no IS/FID/KID (evaluate.inception_weights not set)"): said once
        return Verdict(claim, "not measured", f"no run of the claim's variants is measured: every one {whys.pop()}",
                       [], effect, absent)
    if claim.best_of_lower or claim.best_of_higher:
        candidates = ([compare(runs, claim.quantity, lo, higher[0], options) for lo in lower] if claim.best_of_lower
                      else [compare(runs, claim.quantity, lower[0], hi, options) for hi in higher])
        chosen, verdict, reason = best_of(candidates)
        return Verdict(claim, verdict, reason, [chosen], effect, absent)
    pairs = [compare(runs, claim.quantity, lo, hi, options) for lo in lower for hi in higher]
    words = [p.verdict() for p in pairs]
    kinds = {w for w, _ in words}
    if kinds == {"not measured"}:
        verdict, reason = "not measured", "; ".join(dict.fromkeys(r for _, r in words))
    elif "contradicted" in kinds:
        verdict, reason = "contradicted", ""
    elif kinds == {"supported"}:
        verdict, reason = "supported", ""
    else:
        verdict = "inconclusive"
        reason = "; ".join(dict.fromkeys(r for w, r in words if w != "supported"))
    return Verdict(claim, verdict, reason, pairs, effect, absent)
