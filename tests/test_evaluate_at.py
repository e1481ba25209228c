"""Per-variant iteration counts (train.variant_iterations) and the "converged" model evaluated at
the paper's iteration (train.evaluate_at): Xiang & Li section 5.1 and Tables 6-7."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from gannorm.config import ConfigError, check_config, variant_spec
from gannorm.evaluate.final import final_evaluation
from gannorm.models.checkpoint import load_checkpoint
from gannorm.report.runs import ReportOptions, load_run, measure
from gannorm.train.loop import train_dcgan
from test_studies_config import demo, validated


def _train(store, spec, out, variant="weight", seed=0):
    return train_dcgan(store, spec, study="s", variant=variant, seed=seed, out_dir=out, device=torch.device("cpu"),
                       progress=False)


def test_variant_spec_gives_a_variant_its_own_count_and_drops_the_map():
    study = {"dataset": "d", "train": {"iterations": 150, "variant_iterations": {"weight": 700}, "lr": 1e-4}}
    weight, vanilla = variant_spec(study, "weight"), variant_spec(study, "vanilla")
    assert weight["train"] == {"iterations": 700, "lr": 1e-4}
    assert vanilla["train"] == {"iterations": 150, "lr": 1e-4}  # the same JSON whatever weight's count is
    assert study["train"]["variant_iterations"] == {"weight": 700}  # the study config is not changed
    plain = {"dataset": "d", "train": {"iterations": 150}}
    assert variant_spec(plain, "weight") == plain  # no map: the spec (and the rule's parameters) unchanged


def test_evaluate_at_keeps_the_checkpoint_and_the_final_evaluation_scores_it(digits_store, small_study, tmp_path):
    small_study["train"]["evaluate_at"] = [15, 30, 99]  # 15: between running evaluations; 99: beyond the run
    _train(digits_store, small_study, tmp_path)
    rows = (tmp_path / "metrics.csv").read_text().splitlines()[1:]
    logged = {int(r.split(",")[0]): r.split(",")[-1] for r in rows}
    assert logged[15] != ""  # a running evaluation at the evaluate_at iteration, so its running loss is known
    state = load_checkpoint(tmp_path / "checkpoints" / "iter0000015.pt")
    assert state["iteration"] == 15 and state["running"] == pytest.approx(float(logged[15]))
    assert load_checkpoint(tmp_path / "checkpoints" / "iter0000030.pt")["iteration"] == 30
    assert not (tmp_path / "checkpoints" / "iter0000099.pt").exists()

    final = final_evaluation(digits_store, small_study, tmp_path, torch.device("cpu"), progress=False)
    checkpoints = final["checkpoints"]
    assert final["converged"] == "iter0000030"  # the largest evaluate_at iteration the run reached
    assert checkpoints["iter0000015"]["iteration"] == 15 and checkpoints["iter0000015"]["mean"] > 0
    assert checkpoints["iter0000030"]["same_as"] in ("best", "last")  # the last checkpoint: not optimised twice
    assert checkpoints["iter0000030"]["mean"] == checkpoints["last"]["mean"]
    assert json.loads((tmp_path / "final_eval.json").read_text())["converged"] == "iter0000030"

    run = load_run(tmp_path)
    converged = measure(run, "final_recon_converged", ReportOptions())
    assert converged.value == pytest.approx(checkpoints["last"]["mean"])
    assert measure(run, "running_recon_converged", ReportOptions()).value == pytest.approx(
        checkpoints["last"]["running_recon"])


def test_converged_is_an_earlier_checkpoint_when_the_run_goes_on(digits_store, small_study, tmp_path):
    small_study["train"]["evaluate_at"] = [20]
    _train(digits_store, small_study, tmp_path)
    final = final_evaluation(digits_store, small_study, tmp_path, torch.device("cpu"), progress=False)
    at = final["checkpoints"]["iter0000020"]
    assert final["converged"] == "iter0000020" and at["iteration"] == 20 and "same_as" not in at
    run = load_run(tmp_path)
    assert measure(run, "final_recon_converged", ReportOptions()).value == pytest.approx(at["mean"])
    assert measure(run, "final_recon_last", ReportOptions()).value == pytest.approx(final["checkpoints"]["last"]["mean"])


def test_without_evaluate_at_converged_is_the_last_checkpoint_and_final_eval_json_is_unchanged(
        digits_store, small_study, tmp_path):
    _train(digits_store, small_study, tmp_path)
    final = final_evaluation(digits_store, small_study, tmp_path, torch.device("cpu"), progress=False)
    assert "converged" not in final and set(final["checkpoints"]) == {"best", "last"}
    assert not list((tmp_path / "checkpoints").glob("iter*.pt"))
    value = measure(load_run(tmp_path), "final_recon_converged", ReportOptions()).value
    assert value == pytest.approx(final["checkpoints"]["last"]["mean"])


def test_a_rerun_without_evaluate_at_removes_the_old_checkpoints(digits_store, small_study, tmp_path):
    with_at = copy.deepcopy(small_study)
    with_at["train"]["evaluate_at"] = [20]
    _train(digits_store, with_at, tmp_path)
    assert (tmp_path / "checkpoints" / "iter0000020.pt").exists()
    _train(digits_store, small_study, tmp_path)  # another config in the same folder (Snakemake keeps checkpoints/)
    assert not (tmp_path / "checkpoints" / "iter0000020.pt").exists()
    final = final_evaluation(digits_store, small_study, tmp_path, torch.device("cpu"), progress=False)
    assert set(final["checkpoints"]) == {"best", "last"}


def test_variant_iterations_reaches_the_training_run(digits_store, small_study, tmp_path):
    small_study["train"]["variant_iterations"] = {"weight": 20}
    result = _train(digits_store, variant_spec(small_study, "weight"), tmp_path / "w")
    assert result.iterations_done == 20
    assert _train(digits_store, variant_spec(small_study, "vanilla"), tmp_path / "v", "vanilla").iterations_done == 30


@pytest.mark.parametrize("edit, match", [
    (lambda s: s["train"].update(variant_iterations={"wieght": 700}),
     r"studies\.xiang_li\.train\.variant_iterations: 'wieght' is neither a variant of the study nor one of "
     r"architecture 'dcgan''s papers"),
    (lambda s: s.update(variants=["vanilla"]) or s["train"].update(variant_iterations={"weight": 700},
                                                                     evaluate_at=[700]),
     r"evaluate_at: 700 is beyond every variant's iterations \(at most 100\)"),  # weight is not run here
    (lambda s: s["train"].update(evaluate_at=[5000]), r"studies\.xiang_li\.train\.evaluate_at: 5000 is beyond every variant"),
])
def test_bad_iteration_settings_name_the_key(edit, match):
    config = demo()
    study = config["studies"]["xiang_li"]
    study["train"]["iterations"] = 100
    edit(study)
    with pytest.raises(ConfigError, match=match):
        check_config(validated(config))


def test_a_study_cut_down_to_some_variants_keeps_its_variant_iterations():
    config = demo()
    config["studies"]["xiang_li"].update(variants=["vanilla", "batch"])
    config["studies"]["xiang_li"]["train"].update(variant_iterations={"weight": 700})
    check_config(validated(config))  # weight is not run: its entry is unused, not an error


def test_evaluate_at_within_a_long_variant_is_accepted():
    config = demo()
    config["studies"]["xiang_li"]["train"].update(iterations=100, variant_iterations={"weight": 700},
                                                  evaluate_at=[100, 700])
    check_config(validated(config))  # 700 is beyond vanilla's 100 iterations but reached by weight


def test_paper_config_runs_the_d2_variants_with_weight_and_vanilla_and_verdicts_cite_tables_5_and_6(tmp_path):
    """configs/paper.yaml: Tables 5 and 6 compare affine WN and WN + mean-only BN with WN and vanilla,
    so they are one study; each variant gets the paper's iterations; its section has their verdicts."""
    import yaml

    from gannorm.report import latex
    from gannorm.report.runs import load_runs
    from gannorm.studies import get as get_study
    from test_report import STORE, gan_dirs
    from test_studies_config import REPO

    config = validated(yaml.safe_load((REPO / "configs/paper.yaml").read_text()))
    check_config(config)
    study = config["studies"]["xiang_li_celeba"]
    assert {"vanilla", "weight", "weight_affine", "weight_meanbn"} <= set(study["variants"])
    assert not any(s["variants"] == ["weight_affine", "weight_meanbn"] for s in config["studies"].values())
    iterations = {v: variant_spec(study, v)["train"]["iterations"] for v in study["variants"]}
    assert iterations == {"vanilla": 150_000, "batch": 150_000, "weight": 700_000, "weight_affine": 700_000,
                          "weight_meanbn": 150_000}  # section 5.2, Appendix D.2
    assert config["datasets"]["celeba"]["split"] == "random"  # section 5.1: 2,000 drawn at random from all

    runs = {(v, s): (0.006 + 0.001 * i + 0.0002 * s, 0.013 + 0.001 * i) for i, v in enumerate(study["variants"])
            for s in range(3)}
    spec = {**study, "architecture": "dcgan", "train": {**study["train"], "iterations": 3000}}
    dirs = gan_dirs(tmp_path, runs=runs, config=spec, study="xiang_li_celeba")
    verdicts = latex.write_study("xiang_li_celeba", get_study("xiang_li"), load_runs(dirs), tmp_path,
                                 {**STORE, "source": "celeba"}, prose_dir=tmp_path)
    section = (tmp_path / "report" / "study_xiang_li_celeba.tex").read_text()
    by_source = {v.claim.source: v for v in verdicts}
    for table in ("Table 5", "Table 6"):
        verdict = next(v for source, v in by_source.items() if source.endswith(table))
        assert verdict.verdict != "not measured", (table, verdict)  # both sides of the claim were run
        assert latex.escape_latex(verdict.claim.text) in section


def test_a_run_that_stopped_before_its_last_evaluate_at_has_no_converged_model(digits_store, small_study, tmp_path):
    small_study["train"]["evaluate_at"] = [10, 30]
    _train(digits_store, small_study, tmp_path)
    (tmp_path / "checkpoints" / "iter0000030.pt").unlink()  # as if the run had diverged at iteration 20
    run = json.loads((tmp_path / "run.json").read_text())
    (tmp_path / "run.json").write_text(json.dumps({**run, "iterations_done": 20}))
    final = final_evaluation(digits_store, small_study, tmp_path, torch.device("cpu"), progress=False)
    assert "iter0000010" in final["checkpoints"] and "converged" not in final  # not iteration 10 as "converged"
