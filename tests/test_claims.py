"""The claims engine (gannorm.report.claims), the quantities it compares (gannorm.report.runs,
gannorm.metrics.curves) and the studies registry (gannorm.studies), on fake run folders."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from gannorm import studies
from gannorm.metrics import curves
from gannorm.report import claims, figures
from gannorm.report.runs import QUANTITIES, ReportOptions, load_runs, measure
from gannorm.studies import Claim, Published, Setting, Study
from gannorm.studies.mullery_whelan import MULLERY_IWGAN, STEEP_DROP
from gannorm.studies.xiang_li import RESNET, TABLE2, TABLE7, TABLE8, XIANG_LI, XIANG_LI_RESNET
from test_report import GAN_CONFIG, REPO, SR_CONFIG, recon_final, sr_dirs, toy_run, write_run

CLAIM = Claim("a has a lower final loss than b", "final_recon", ("a",), ("b",), "Test, Table 1")
IMAGES = 10


def _runs(root: Path, losses: dict, diverged=()) -> list[dict]:
    """Runs of ``{(variant, seed): per-image losses}``; ``diverged`` runs stop at iteration 150 with no numbers."""
    dirs = []
    for (variant, seed), values in losses.items():
        bad = (variant, seed) in diverged
        dirs.append(write_run(root, "s", variant, seed, config=GAN_CONFIG, outcome="diverged" if bad else "completed",
                              iterations_done=150 if bad else None, final=recon_final(None if bad else values)))
    return load_runs(dirs)


def _pairs(scale: dict[int, float], seed: int = 0) -> dict:
    """b: random per-image losses per seed; a = b * scale[seed] on the same images."""
    rng = np.random.default_rng(seed)
    out = {}
    for s, factor in scale.items():
        b = 0.01 + 0.005 * rng.random(IMAGES)
        out[("a", s)], out[("b", s)] = b * factor * (1 + 0.02 * rng.random(IMAGES)), b
    return out


def _effects(losses: dict, seeds) -> list[float]:
    return [(losses[("b", s)].mean() - losses[("a", s)].mean()) / losses[("b", s)].mean() * 100 for s in seeds]


# --- verdicts ------------------------------------------------------------------------------------------

def test_supported_effect_interval_and_wilcoxon_match_a_hand_computation(tmp_path):
    losses = _pairs({0: 0.8, 1: 0.7, 2: 0.85})
    verdict = claims.evaluate(CLAIM, _runs(tmp_path, losses))
    assert verdict.verdict == "supported" and verdict.reason == ""
    (pair,) = verdict.pairs
    effects = _effects(losses, (0, 1, 2))
    assert pair.effects == pytest.approx(effects) and pair.seeds == [0, 1, 2] and pair.relative
    low, high = stats.t.interval(0.95, 2, loc=np.mean(effects), scale=stats.sem(effects))
    assert pair.interval() == pytest.approx((low, high))
    assert low > 0
    assert all(p < claims.ALPHA for p in pair.p_values)
    assert verdict.text() == (
        f"a has a lower final loss than b: supported. Ours: a {np.mean(effects):.3g}% lower than b, 95% CI "
        f"[{low:.3g}, {high:.3g}], 3 seeds, paired Wilcoxon p < 0.05 in 3 of 3 (largest p {max(pair.p_values):.2g}).")


def test_reversed_is_contradicted_and_mixed_is_inconclusive(tmp_path):
    reversed_ = claims.evaluate(CLAIM, _runs(tmp_path / "r", _pairs({0: 1.3, 1: 1.2, 2: 1.25})))
    assert reversed_.verdict == "contradicted" and reversed_.pairs[0].interval()[1] < 0
    assert " higher than b" in reversed_.text()
    mixed = claims.evaluate(CLAIM, _runs(tmp_path / "m", _pairs({0: 0.8, 1: 1.2, 2: 0.95})))
    assert mixed.verdict == "inconclusive" and mixed.reason == "the interval contains zero"
    low, high = mixed.pairs[0].interval()
    assert low < 0 < high
    assert mixed.text().startswith("a has a lower final loss than b: inconclusive (the interval contains zero). Ours:")


def test_two_seeds_are_inconclusive_even_when_both_agree(tmp_path):
    verdict = claims.evaluate(CLAIM, _runs(tmp_path, _pairs({0: 0.5, 1: 0.5})))
    assert verdict.verdict == "inconclusive"
    assert verdict.text().startswith("a has a lower final loss than b: inconclusive (fewer than 3 seeds measured).")
    assert ", 2 seeds" in verdict.text()


def test_a_diverged_run_leaves_its_seed_out(tmp_path):
    losses = _pairs({0: 0.8, 1: 0.7, 2: 0.85, 3: 0.8})
    verdict = claims.evaluate(CLAIM, _runs(tmp_path, losses, diverged={("a", 1)}))
    assert verdict.verdict == "supported"
    (pair,) = verdict.pairs
    assert pair.seeds == [0, 2, 3] and pair.effects == pytest.approx(_effects(losses, (0, 2, 3)))
    assert pair.unmeasured == ["seed 1: a diverged at iteration 150"]
    assert verdict.text().endswith("(not measured: seed 1: a diverged at iteration 150).")


def test_all_diverged_is_not_measured(tmp_path):
    losses = _pairs({0: 0.8, 1: 0.7, 2: 0.85})
    verdict = claims.evaluate(CLAIM, _runs(tmp_path, losses, diverged={("a", 0), ("a", 1), ("a", 2)}))
    assert verdict.verdict == "not measured" and verdict.pairs[0].n == 0
    assert verdict.reason == ("seed 0: a diverged at iteration 150; seed 1: a diverged at iteration 150; "
                              "seed 2: a diverged at iteration 150")
    assert verdict.text().count("seed 0: a diverged at iteration 150") == 1  # the reason is said once
    assert "Ours: a vs b: not measured." in verdict.text()


def test_a_claim_with_no_variant_run_on_one_side_is_not_measured(tmp_path):
    runs = _runs(tmp_path, {k: v for k, v in _pairs({0: 0.8, 1: 0.7, 2: 0.85}).items() if k[0] == "a"})
    verdict = claims.evaluate(CLAIM, runs)
    assert verdict.verdict == "not measured" and verdict.pairs == []
    assert verdict.text() == "a has a lower final loss than b: not measured (the study has no run of b)."


def test_missing_run_and_other_test_images(tmp_path):
    losses = _pairs({0: 0.8, 1: 0.7, 2: 0.85, 3: 0.9})
    del losses[("b", 3)]
    dirs = [write_run(tmp_path, "s", v, s, config=GAN_CONFIG,
                      final=recon_final(x, indices=range(100, 100 + IMAGES) if (v, s) == ("a", 2) else None))
            for (v, s), x in losses.items()]
    (pair,) = claims.evaluate(CLAIM, load_runs(dirs)).pairs
    assert pair.unmeasured == ["seed 3: no b run"]
    assert pair.seeds == [0, 1, 2] and math.isnan(pair.p_values[2])  # seed 2: not the same test images
    assert "paired Wilcoxon p < 0.05 in 2 of 2" in pair.text()


def test_best_of_lower_reports_the_candidate_with_the_highest_bonferroni_lower_end(tmp_path):
    rng = np.random.default_rng(3)
    ln = {s: 0.01 + 0.005 * rng.random(IMAGES) for s in range(3)}
    gn = {("g4", 0): 0.7, ("g4", 1): 0.72, ("g4", 2): 0.71, ("g8", 0): 0.5, ("g8", 1): 0.95, ("g8", 2): 0.6}
    losses = {**{("ln", s): x for s, x in ln.items()}, **{(v, s): ln[s] * f for (v, s), f in gn.items()}}
    claim = Claim("GN at its best group count beats LN", "final_recon", ("g4", "g8", "g16"), ("ln",), "T",
                  best_of_lower=True)
    verdict = claims.evaluate(claim, _runs(tmp_path, losses))  # g16 was not run
    (pair,) = verdict.pairs
    # by hand: effects 1 - factor per seed; k = 2 candidates run, so 97.5% intervals
    g4, g8 = [30.0, 28.0, 29.0], [50.0, 5.0, 40.0]
    bonferroni = [stats.t.interval(0.975, 2, loc=np.mean(e), scale=stats.sem(e)) for e in (g4, g8)]
    assert bonferroni[0][0] > 0 > bonferroni[1][0]  # g8 has the larger mean, g4 the higher lower end
    assert pair.lower == "g4" and pair.effects == pytest.approx(g4) and pair.best_of == 2
    assert pair.interval() == pytest.approx(bonferroni[0])
    assert verdict.verdict == "supported" and verdict.absent == ["g16"]
    assert "97.5% CI (Bonferroni, best of 2)" in verdict.text() and "(not run here: g16)" in verdict.text()
    assert claims.evaluate(claim, _runs(tmp_path / "ln", {("ln", 0): ln[0]})).reason == (
        "the study has no run of g4, g8, g16")
    with pytest.raises(ValueError, match="one variant on the other side"):
        Claim("x", "final_recon", ("g4", "g8"), ("ln", "none"), "T", best_of_lower=True)


def _null_pairs(rng, k: int, seeds: int, noise: float) -> list[claims.PairResult]:
    """k candidates and the other side all drawn from one distribution (no candidate is better)."""
    other = 1 + noise * rng.standard_normal(seeds)
    out = []
    for i in range(k):
        mine = 1 + noise * rng.standard_normal(seeds)
        out.append(claims.PairResult(f"g{i}", "ln", True, effects=list(100 * (other - mine) / other),
                                     seeds=list(range(seeds))))
    return out


def test_best_of_k_equal_candidates_is_rarely_supported():
    """Five group counts no better than LN, 3 seeds, 4,000 simulated studies: the Bonferroni best-of
    rule calls the claim supported in about 3 % (under 5 %); taking the best of five
    seed by seed on the judged numbers (the rule before) does so in about a fifth."""
    rng = np.random.default_rng(0)
    trials, fair, naive = 4000, [], 0
    for _ in range(trials):
        pairs = _null_pairs(rng, 5, 3, 0.1)
        fair.append(claims.best_of(pairs)[1])
        per_seed_best = np.max([p.effects for p in pairs], axis=0)
        naive += claims.PairResult("best", "ln", True, effects=list(per_seed_best), seeds=[0, 1, 2]).verdict()[0] == \
            "supported"
    supported = fair.count("supported") / trials
    assert supported < 0.05 and fair.count("inconclusive") / trials > 0.9
    assert naive / trials > 0.15


def test_best_of_k_finds_a_real_effect_and_needs_every_candidate_worse_to_contradict():
    rng = np.random.default_rng(1)
    pairs = _null_pairs(rng, 5, 5, 0.01)
    pairs[2].effects = [20.0 + e for e in pairs[2].effects]  # one group count 20% better
    chosen, verdict, _ = claims.best_of(pairs)
    assert chosen.lower == "g2" and verdict == "supported"
    worse = [claims.PairResult(f"g{i}", "ln", True, effects=[-30.0 - i, -31.0 - i, -29.0 - i], seeds=[0, 1, 2])
             for i in range(3)]
    assert claims.best_of(worse)[1] == "contradicted"
    worse[1].effects = [-40.0, 30.0, -20.0]  # one candidate's interval contains zero
    assert claims.best_of(worse)[1] == "inconclusive"


def test_a_claim_is_evaluated_on_the_variants_the_study_ran(tmp_path):
    """Xiang & Li's main WN claim names five variants; paper.yaml's CIFAR-10 and LSUN studies run
    three: the claim gets a measured verdict over those, naming the two it left out."""
    import yaml

    paper = yaml.safe_load((REPO / "configs" / "paper.yaml").read_text())
    wn_claim = XIANG_LI.claims[0]
    for name in ("xiang_li_cifar10", "xiang_li_lsun"):
        study = paper["studies"][name]
        assert study["paper"] == "xiang_li" and set(study["variants"]) < set(wn_claim.lower + wn_claim.higher)
        factors = {"weight": 0.8, "vanilla": 1.0, "batch": 1.1}
        rng = np.random.default_rng(5)
        losses = {}
        for seed in study["seeds"]:
            base = 0.01 + 0.005 * rng.random(IMAGES)
            for variant in study["variants"]:
                losses[(variant, seed)] = base * factors[variant] * (1 + 0.01 * rng.random(IMAGES))
        verdict = claims.evaluate(wn_claim, _runs(tmp_path / name, losses), published=TABLE7)
        absent = [v for v in ("weight_affine", "weight_meanbn")]
        assert verdict.verdict == "supported" and verdict.absent == absent
        assert [(p.lower, p.higher) for p in verdict.pairs] == [("weight", v) for v in study["variants"] if v != "weight"]
        assert verdict.text().startswith(f"{wn_claim.text}: supported (not run here: weight_affine, weight_meanbn). "
                                         "Ours: weight ")


def test_steep_drop_effect_is_a_difference_in_iterations(tmp_path):
    """Critic loss -4 up to iteration D, then -0.4: with a 10-iteration running mean the steep drop
    (half-way down) is at D + 6."""
    config = {**GAN_CONFIG, "architecture": "iwgan", "train": {"iterations": 100}}
    its = np.arange(1, 101)
    drops = {("x", 0): 30, ("x", 1): 40, ("x", 2): 35, ("y", 0): 60, ("y", 1): 70, ("y", 2): 80, ("y", 3): None}
    dirs = [write_run(tmp_path, "s", v, s, config=config,
                      metrics={"iteration": its, "critic_loss": np.where((d is None) | (its <= (d or 0)), -4.0, -0.4)})
            for (v, s), d in drops.items()]
    options = ReportOptions(running_mean=10)
    runs = load_runs(dirs)
    assert [measure(r, "steep_drop", options).value for r in runs[:3]] == [36, 46, 41]
    assert measure(runs[-1], "steep_drop", options).why == "reached no steep drop by iteration 100"
    claim = Claim("x drops earlier than y", "steep_drop", ("x",), ("y",), "T")
    verdict = claims.evaluate(claim, runs, options)
    (pair,) = verdict.pairs
    assert not pair.relative and pair.effects == [30, 30, 45]
    assert verdict.verdict == "supported"
    assert "x 35 lower than y, 95% CI [" in verdict.text()  # iterations, not percent
    assert "Wilcoxon" not in verdict.text()
    assert "seed 3: no x run" in verdict.text()
    assert measure(runs[-1], "steep_drop", options).censored and measure(runs[-1], "steep_drop", options).value == 100


def test_a_higher_run_that_never_drops_is_a_lower_bound_a_lower_one_is_not_measured(tmp_path):
    """y never drops in seed 1 (censored at iteration 100): x's effect there is at least 100 - 46."""
    config = {**GAN_CONFIG, "architecture": "iwgan", "train": {"iterations": 100}}
    its = np.arange(1, 101)
    drops = {("x", 0): 30, ("x", 1): 40, ("x", 2): None, ("y", 0): 60, ("y", 1): None, ("y", 2): 80}
    dirs = [write_run(tmp_path, "s", v, s, config=config,
                      metrics={"iteration": its, "critic_loss": np.where((d is None) | (its <= (d or 0)), -4.0, -0.4)})
            for (v, s), d in drops.items()]
    verdict = claims.evaluate(Claim("x drops earlier than y", "steep_drop", ("x",), ("y",), "T"), load_runs(dirs),
                              ReportOptions(running_mean=10))
    (pair,) = verdict.pairs
    assert pair.effects == [30, 54] and pair.seeds == [0, 1]
    assert "lower bounds: seed 1: y reached no steep drop by iteration 100" in verdict.text()
    assert "not measured: seed 2: x reached no steep drop by iteration 100" in verdict.text()


# --- the paper's effect ------------------------------------------------------------------------------------

def test_paper_effect_from_table2():
    claim = XIANG_LI.claims[0]  # WN lower than every other variant
    text = claims.paper_effect(claim, TABLE2)
    assert text.startswith("Xiang & Li 2017, Table 2")
    assert "WN 10.5% lower than vanilla" in text  # (0.006171 - 0.005524) / 0.006171
    assert "WN 13.1% lower than BN" in text and "WN+mean-BN" not in text  # Table 5 gives no final loss
    only_vanilla = Claim("WN lower than vanilla", "final_recon", ("weight",), ("vanilla",), "T")
    assert claims.paper_effect(only_vanilla, TABLE2).endswith("(CelebA 160 px, up to 700k iterations): "
                                                              "WN 10.5% lower than vanilla")
    verdict = claims.evaluate(only_vanilla, [], published=TABLE2)
    assert verdict.text().endswith("Paper: " + claims.paper_effect(only_vanilla, TABLE2) + ".")


def test_paper_effect_falls_back_to_the_claims_text():
    resnet = XIANG_LI_RESNET.claims[0]  # the ResNet table has no vanilla or BN loss
    assert claims.paper_effect(resnet, RESNET) == resnet.paper_effect
    steep = MULLERY_IWGAN.claims[0]  # tanh's drop is given only in words
    assert claims.paper_effect(steep, STEEP_DROP) == "about 500 vs 900-1,500 generator iterations"
    assert claims.paper_effect(Claim("t", "final_recon", ("a",), ("b",), "T"), None) == ""
    numbers = Published("P", Setting("x", "X"), {"a": {"steep_drop": 500}, "b": {"steep_drop": 900}})
    assert claims.paper_effect(Claim("t", "steep_drop", ("a",), ("b",), "T"), numbers) == "P (X): a 400 lower than b"


# --- quantities ------------------------------------------------------------------------------------------

def test_measure_says_why_a_run_is_not_measured(tmp_path):
    bare = write_run(tmp_path, "s", "a", 0, config=GAN_CONFIG)
    nulls = write_run(tmp_path, "s", "a", 1, config=GAN_CONFIG,
                      final={"checkpoints": {"best": {"per_image": [0.1, None]}}})
    bare_run, null_run = load_runs([bare, nulls])
    assert measure(bare_run, "final_recon", ReportOptions()).why == "has no final evaluation"
    assert measure(null_run, "final_recon", ReportOptions()).why == "has non-finite per-image values"
    assert measure(bare_run, "early_w1", ReportOptions()).why == "has no snapshot after iteration 0"
    with pytest.raises(KeyError, match="unknown quantity 'nope'"):
        measure(bare_run, "nope", ReportOptions())


def test_toy_quantities_and_early_w1(tmp_path):
    (run,) = load_runs([toy_run(tmp_path, "split_shift", 0, 2.5)])
    assert measure(run, "mean_shift", ReportOptions()).value == 2.5
    assert measure(run, "energy", ReportOptions()).value == 0.25
    assert measure(run, "d_ln2_gap", ReportOptions()).value == pytest.approx(abs(0.69 - math.log(2)))
    snaps = write_run(tmp_path, "s", "a", 0, config=GAN_CONFIG, snapshots={0: [0.5], 100: [0.1, 0.3], 200: [0.0]})
    assert measure(load_runs([snaps])[0], "early_w1", ReportOptions()).value == pytest.approx(0.2)


def test_sr_quantities_and_the_early_window(tmp_path):
    tanh, bn_clip = load_runs(sr_dirs(tmp_path))  # perceptual loss 9 (tanh) / 3 (bn_clip) up to iteration 10 of 40
    options = ReportOptions()  # early = the first 25% of train.iterations
    assert measure(tanh, "early_perceptual", options).value == 9.0
    assert measure(bn_clip, "early_perceptual", options).value == 3.0
    assert measure(tanh, "early_perceptual", ReportOptions(early_fraction=1)).value == pytest.approx(
        (10 * 9.0 + sum(2.0 - i / 100 for i in range(11, 41))) / 40)
    assert measure(tanh, "final_perceptual", options).value == pytest.approx(1.0)
    assert measure(tanh, "final_w1", options).value == pytest.approx(0.02)
    assert measure(tanh, "running_best", options).value == 9.0
    stopped = write_run(tmp_path, "s", "tanh", 1, config={**SR_CONFIG, "train": {"iterations": 400}},
                        metrics={"iteration": np.arange(1, 41), "perceptual_loss": np.full(40, 9.0)})
    early = measure(load_runs([stopped])[0], "early_perceptual", options)  # logged to 40 of the first 100
    assert math.isnan(early.value) and early.why == "logged no perceptual loss through the early window"


def test_report_options_from_config_and_validation():
    options = ReportOptions.from_config({"running_mean": 25, "published": "auto"})
    assert (options.running_mean, options.steep_drop_fraction, options.early_fraction) == (25, 0.5, 0.25)
    for bad in ({"running_mean": 0}, {"steep_drop_fraction": 1}, {"early_fraction": 0}, {"max_snapshots": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            ReportOptions(**bad)


def test_steep_drop_of_a_constructed_curve():
    its = np.arange(1, 101, dtype=float)
    curve = np.where(its <= 40, -10.0, -1.0)  # running mean above -5 from t = 46 on
    drop = curves.steep_drop(its, curve, window=10, fraction=0.5)
    assert drop.measured and drop.reached and drop.iteration == 46 and drop.peak == pytest.approx(10.0)
    assert drop.value == pytest.approx(-(9 * 40 + 100 - 9 * 46) / 10) and drop.last_iteration == 100
    assert curves.steep_drop(its, curve, window=10, fraction=0.2).iteration == 49
    ramp = np.concatenate([np.linspace(-1, -10, 20), np.full(40, -10.0), np.full(40, -1.0)])
    assert curves.steep_drop(its, ramp, window=1).iteration == 61  # after the peak, not at the start
    sparse = np.arange(10, 1001, 10, dtype=float)  # one row per 10 iterations: 100 iterations = 10 rows
    assert curves.steep_drop(sparse, np.where(sparse <= 400, -10.0, -1.0), window=100).iteration == 460
    flat = curves.steep_drop(its, np.full(100, -3.0), window=10)
    assert flat.measured and not flat.reached and math.isnan(flat.iteration)
    assert not curves.steep_drop(its, np.full(100, 3.0), window=10).measured
    diverged = np.where(its <= 30, -4.0, -0.4)
    diverged[-2:] = [np.inf, np.nan]
    assert (curves.steep_drop(its, diverged, window=10).iteration, curves.steep_drop(its, diverged).last_iteration) \
        == (36, 98)
    with pytest.raises(ValueError, match="fraction"):
        curves.steep_drop(its, curve, fraction=1.5)


def test_running_mean_is_trailing_and_skips_non_finite():
    mean = curves.running_mean(np.arange(1, 7.0), np.array([1.0, 3.0, np.nan, 5.0, np.inf, 7.0]), window=3)
    assert mean[[0, 1, 3, 5]].tolist() == pytest.approx([1.0, 2.0, 4.0, 6.0])
    assert np.isnan(mean[[2, 4]]).all()


# --- the studies registry -------------------------------------------------------------------------------------

def test_every_registered_study_is_consistent():
    registry = studies.registry()
    assert {"xiang_li", "xiang_li_resnet", "mullery_iwgan", "mullery_sr", "johannsmeier", "wu_critic_norm",
            "tutorial_mlp"} <= set(registry)
    for paper, study in registry.items():
        assert study.paper == paper and study.claims, paper
        for claim in study.claims:
            assert set(claim.lower) | set(claim.higher) <= set(study.variants), claim.text
            assert claim.quantity in QUANTITIES and claim.source, claim.text
        assert study.main_quantity in QUANTITIES, paper
        assert all(q in QUANTITIES for t in study.tables for q in t.columns), paper
        assert set(study.figures) <= set(figures.FIGURES), paper
        assert (REPO / "paper" / "studies" / f"{paper}.tex").is_file(), paper
        stems = study.report_files("x")
        assert len(stems) == len(set(stems)), paper


def test_a_claim_naming_another_variant_is_rejected():
    with pytest.raises(ValueError, match="names variant 'c'"):
        Study("p", "T", "C", "dcgan", ("a", "b"), claims=(Claim("t", "final_recon", ("c",), ("a",), "S"),))


def test_get_unknown_paper_lists_the_known_ones():
    with pytest.raises(KeyError, match=r"unknown paper 'nope'; known: \[.*'mullery_iwgan'.*'xiang_li'"):
        studies.get("nope")
    assert studies.get("xiang_li") is XIANG_LI
    assert studies.get("gannorm.studies.mullery_whelan:MULLERY_IWGAN") is MULLERY_IWGAN


def test_register_refuses_a_second_study_under_the_same_key(monkeypatch):
    monkeypatch.setattr(studies, "_REGISTRY", dict(studies.registry()))
    other = Study("xiang_li", "Other", "C", "dcgan", ("a",))
    with pytest.raises(ValueError, match="two studies register paper 'xiang_li'"):
        studies.register(other)
    studies.register(XIANG_LI)  # the same study again is fine
    studies.register(Study("mine", "Mine", "C", "dcgan", ("a",)))
    assert studies.get("mine").title == "Mine"


def test_published_for_picks_the_setting_by_dataset():
    assert XIANG_LI.published_for("cifar10") is TABLE7
    assert XIANG_LI.published_for("lsun") is TABLE8
    assert XIANG_LI.published_for("celeba") is TABLE2
    assert XIANG_LI.published_for("digits") is TABLE2 and XIANG_LI.published_for(None) is TABLE2
    assert Study("p", "T", "C", "dcgan", ("a",)).published_for("celeba") is None


@pytest.mark.parametrize("ours, relation", [
    (Setting("cifar10", "", 32, 500_000), "the same dataset and scale"),
    (Setting("cifar10", "", 32, 3_000), "the same dataset at another scale"),
    (Setting("digits", "", 32, 500_000), "another dataset"),
    (Setting("digits", "", 16, 3_000), "another dataset and scale"),
    (None, "another dataset and scale"),
])
def test_setting_relation(ours, relation):
    assert TABLE7.setting.relation(ours) == relation


def test_setting_relation_needs_the_papers_classes():
    frogs = MULLERY_IWGAN.published[0].setting
    assert frogs.relation(Setting("cifar10", "", 32, 1_500, (6,))) == "the same dataset and scale"
    assert frogs.relation(Setting("cifar10", "", 32, 1_500, None)) == "another dataset"
