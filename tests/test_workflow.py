"""The Snakemake workflow as a user runs it: config validation, dry run, and the smoke study
end to end (data -> train -> evaluate -> tables, figures, report.pdf)."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import re

import pytest
import yaml

from gannorm.studies import get as get_study

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def workflow_copy(tmp_path: Path) -> Path:
    """A copy of the workflow's files (Snakefile, rules, schema, configs, paper, src) in tmp_path."""
    for name in ("Snakefile", "config.yaml", "workflow", "configs", "paper", "src", "envs"):
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(source, tmp_path / name)
    return tmp_path


def snakemake(cwd: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    # The rules call `python`: make it this interpreter (the venv's), as an activated venv does.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run([*SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def merge(base: dict, override: dict) -> dict:
    """``base`` with ``override`` merged in recursively (a complete config with one bad key)."""
    out = dict(base)
    for k, v in override.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@pytest.mark.parametrize("override, key", [
    ({"studies": {"xiang_li": {"train": {"iteratons": 5}}}}, "iteratons"),
    ({"studies": {"xiang_li": {"variants": ["vanilla", "spectral"]}}},
     "studies.xiang_li.variants[1]: 'spectral' is a normalization, not a variant"),
    ({"studies": {"xiang_li": {"train": {"iterations": -5}}}}, "studies.xiang_li.train.iterations: -5"),
    ({"studies": {"xiang_li": {"dataset": "mnist"}}}, "studies.xiang_li.dataset"),
    ({"datasets": {"digits": {"source": "digits", "size": 24}}}, "datasets.digits.size"),
])
def test_bad_config_is_rejected_naming_the_key_before_any_job(tmp_path, override, key):
    workdir = workflow_copy(tmp_path)
    config = merge(yaml.safe_load((ROOT / "config.yaml").read_text()), override)
    (workdir / "bad.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "--cores", "1", "--configfile", "bad.yaml")
    assert result.returncode != 0
    assert key in result.stdout + result.stderr
    assert not (workdir / "results").exists(), "nothing may run on a bad config"


def test_dry_run_lists_one_training_and_evaluation_job_per_cell(tmp_path):
    workdir = workflow_copy(tmp_path)
    result = snakemake(workdir, "-n", "--quiet", "rules")
    assert result.returncode == 0, result.stderr
    from gannorm.config import study_cells
    from gannorm.cost import load_config

    config = load_config(ROOT / "config.yaml")  # resolved: a study's variants per architecture
    cells = sum(len(study_cells(s)) for s in config["studies"].values())
    table = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            table[parts[0]] = int(parts[1])
    assert table["train"] == cells and table["final_eval"] == cells
    assert table["prepare_dataset"] == len(config["datasets"]) and table["report_pdf"] == 1
    # one report job per study (its tables, figures and section), then the PDF
    assert {k for k in table if k.startswith("report_")} == {f"report_{s}" for s in config["studies"]} | {"report_pdf"}
    assert all(table[f"report_{s}"] == 1 for s in config["studies"])


# Parses the Snakefile in this process (a dry run) and prints the environment variables it changed.
PARSE_ENVIRONMENT = """
import json, os, sys
before = dict(os.environ)
from snakemake.cli import main
try:
    main(sys.argv[1:])
except SystemExit as err:
    assert not err.code, err.code
changed = sorted(k for k in set(os.environ) | set(before) if os.environ.get(k) != before.get(k))
print("CHANGED=" + json.dumps(changed))
"""


def test_parsing_the_snakefile_changes_no_environment_variable_and_rules_pass_the_gpu_settings(tmp_path):
    workdir = workflow_copy(tmp_path)
    locks = tmp_path / "gpu locks"
    config = merge(yaml.safe_load((ROOT / "config.yaml").read_text()),
                   {"gpu": {"jobs_per_gpu": 3, "lock_dir": str(locks), "wait_seconds": 7}})
    (workdir / "gpu.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run([sys.executable, "-c", PARSE_ENVIRONMENT, "-n", "-p", "--cores", "1",
                             "--configfile", "gpu.yaml"], cwd=workdir, capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    changed = json.loads(output.split("CHANGED=")[1].splitlines()[0])
    assert changed == []
    gpu_options = f"--jobs-per-gpu 3 --gpu-lock-dir='{locks}' --gpu-wait 7"
    commands = [line for line in output.splitlines() if " -m gannorm train " in line or " -m gannorm evaluate " in line]
    assert any(" -m gannorm train " in c for c in commands) and any(" -m gannorm evaluate " in c for c in commands)
    assert all(gpu_options in c for c in commands), commands[:2]


@pytest.mark.workflow
def test_smoke_study_runs_end_to_end_and_builds_the_report(tmp_path):
    if shutil.which("latexmk") is None:
        pytest.fail("latexmk is missing: `make test` installs TeX (Debian packages) before running the tests")
    workdir = workflow_copy(tmp_path)
    result = snakemake(workdir, "--cores", "2", "--configfile", "configs/smoke.yaml")
    assert result.returncode == 0, result.stderr[-4000:]
    results = workdir / "results" / "smoke"
    pdf = results / "report.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 10_000
    config = yaml.safe_load((ROOT / "configs" / "smoke.yaml").read_text())
    study = config["studies"]["xiang_li"]
    for variant in study["variants"]:
        run = results / "runs" / "xiang_li" / f"dcgan-{variant}" / "seed0"
        final = json.loads((run / "final_eval.json").read_text())
        assert final["images"] == study["evaluate"]["images"]
        assert len(final["checkpoints"]["best"]["per_image"]) == study["evaluate"]["images"]
        assert json.loads((run / "run.json").read_text())["iterations_done"] == study["train"]["iterations"]
    table = (results / "tables" / "xiang_li.csv").read_text()
    assert all(v in table for v in study["variants"])
    for figure in ("running_loss", "samples", "reconstructions"):
        assert (results / "figures" / f"xiang_li_{figure}.pdf").stat().st_size > 1000
    # train.variant_iterations and train.evaluate_at through the rules: the ResNet's WN trains 60
    # iterations, the others 40; WN's checkpoint at 40 is evaluated too and its last is "converged"
    resnet = results / "runs" / "xiang_li_resnet"
    weight = json.loads((resnet / "resnet-weight" / "seed0" / "final_eval.json").read_text())
    assert json.loads((resnet / "resnet-weight" / "seed0" / "run.json").read_text())["iterations_done"] == 60
    assert weight["converged"] == "iter0000060" and weight["checkpoints"]["iter0000040"]["iteration"] == 40
    assert weight["checkpoints"]["iter0000040"]["mean"] is not None
    vanilla = json.loads((resnet / "resnet-vanilla" / "seed0" / "final_eval.json").read_text())
    assert json.loads((resnet / "resnet-vanilla" / "seed0" / "run.json").read_text())["iterations_done"] == 40
    assert vanilla["converged"] == "iter0000040" and vanilla["checkpoints"]["iter0000040"]["same_as"] in ("best", "last")
    # every study of the smoke config ran end to end: each cell trained and evaluated, a table
    # naming every variant, and a report section with its computed verdict(s)
    for name, spec in config["studies"].items():
        architecture = get_study(spec["paper"]).architecture
        for variant in spec["variants"]:
            for seed in spec["seeds"]:
                run = results / "runs" / name / f"{architecture}-{variant}" / f"seed{seed}"
                info = json.loads((run / "run.json").read_text())
                assert info["architecture"] == architecture and info["outcome"] in ("completed", "diverged"), run
                assert json.loads((run / "final_eval.json").read_text())["outcome"] == info["outcome"], run
                if "snapshot_at" in spec["train"]:
                    assert len(list((run / "snapshots").glob("iter*.npz"))) == len(spec["train"]["snapshot_at"]), run
        table = (results / "tables" / f"{name}.csv").read_text()
        assert all(variant in table for variant in spec["variants"]), name
        section = (results / "report" / f"study_{name}.tex").read_text()
        assert "Verdicts" in section and re.search(r"\\textbf\{(supported|contradicted|inconclusive|not measured)\}",
                                                   section), name
    # Snakemake's HTML report (docs/html-report.md): each study a category holding each of its tables
    # and figures (embedded), captioned as the PDF captions them, and the PDF
    html_report(workdir, results, config)
    # nothing left to do: a second call is a no-op
    again = snakemake(workdir, "-n", "--configfile", "configs/smoke.yaml")
    assert "Nothing to be done" in again.stdout + again.stderr
    # the console said how many items each store used (the prepare rule's last log line)
    assert re.search(r"digits: \d+ of \d+ source items used", result.stdout + result.stderr)
    # each job gets only the keys it reads: a report-only edit plans report jobs, an evaluate edit
    # final evaluations and reports, never training (finished compute is kept)
    def planned(edit):
        changed = copy.deepcopy(config)
        edit(changed["studies"]["xiang_li"])
        (workdir / "edited.yaml").write_text(yaml.safe_dump(changed))
        out = snakemake(workdir, "-n", "--quiet", "rules", "--configfile", "edited.yaml").stdout
        return {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", out, re.M) if rule != "total"}

    report_only = {"report_xiang_li": 1, "report_pdf": 1, "all": 1}
    assert planned(lambda st: st.update(title="Another title")) == report_only
    # (new dicts: the smoke config's studies share sections through YAML anchors)
    assert planned(lambda st: st.update(report={**st.get("report", {}), "running_mean": 3})) == report_only
    evaluate_edit = planned(lambda st: st.update(evaluate={**st["evaluate"], "steps": st["evaluate"]["steps"] + 1}))
    assert evaluate_edit == {"final_eval": len(study["variants"]) * len(study["seeds"]), **report_only}
    # a missing final evaluation (e.g. after a failed job) is rebuilt, and the report after it, also
    # through the report-only target of docs/running.md
    (results / "runs" / "xiang_li" / "dcgan-batch" / "seed0" / "final_eval.json").unlink()
    for target in ((), ("report",)):
        again = snakemake(workdir, "-n", *target, "--quiet", "rules", "--configfile", "configs/smoke.yaml")
        assert re.search(r"final_eval\s+1", again.stdout) and re.search(r"report_xiang_li\s+1", again.stdout), \
            (target, again.stdout)


def html_report(workdir: Path, results: Path, config: dict) -> None:
    """Build ``--report report.html`` of a finished run and check what it embeds (part of the smoke test)."""
    import base64

    from gannorm.studies import caption_file

    made = snakemake(workdir, "--report", "results/smoke/report.html", "--configfile", "configs/smoke.yaml")
    assert made.returncode == 0, made.stderr[-4000:]
    html = (results / "report.html").read_text()
    embedded = json.loads(re.search(r'<script id="results">\s*var results = (.*?);\s*</script>', html, re.S)[1])
    categories = json.loads(re.search(r'<script id="categories">\s*var categories = (.*?);\s*</script>', html, re.S)[1])
    assert set(categories) == {*config["studies"], "report"}
    assert categories["report"] == {"PDF": ["results/smoke/report.pdf"]}
    assert "smoke" in embedded["results/smoke/report.pdf"]["caption"]
    for name, spec in config["studies"].items():
        study = get_study(spec["paper"])
        files = study.report_files(name)
        assert sorted(p for paths in categories[name].values() for p in paths) == sorted(f"results/smoke/{f}" for f in files)
        assert any(f.startswith("figures/") for f in files) and any(f.startswith("tables/") for f in files), name
        for f in files:
            result = embedded[f"results/smoke/{f}"]
            kind = {"tables": "table", "figures": "figure"}.get(f.split("/")[0], "section")
            assert result["labels"]["study"] == name and result["labels"]["kind"] == kind, (f, result["labels"])
            assert f"results/smoke/{f}" in categories[name][kind]
            data = result["data_uri"]  # the file itself, base64 in a data URI
            assert base64.b64decode(data.split(";base64,", 1)[1]) == (results / f).read_bytes(), f
            if kind == "figure":
                assert data.startswith("data:application/pdf;") and result["labels"]["name"] in f, f
            if kind == "section":
                assert name in result["caption"], f
                continue
            # the PDF's caption: the rST the report job wrote, rendered; a table's CSV and LaTeX share it
            rst = (results / caption_file(f)).read_text().removeprefix("{% raw %}").removesuffix("{% endraw %}\n")
            words = re.sub(r"``|\\ ?", "", rst).split()[:8]
            caption = re.sub(r"<[^>]+>", "", result["caption"])
            assert " ".join(words) in " ".join(caption.replace("&amp;", "&").split()), (f, words, caption[:300])
    workflow = embedded_workflow(html)  # workflow/report/workflow.rst, with this run's studies
    assert "The pipeline" in workflow and "final_eval" in workflow and all(f"{n}</a>" in workflow for n in config["studies"])


def embedded_workflow(html: str) -> str:
    """The workflow description of an HTML report (workflow/report/workflow.rst, rendered)."""
    return json.loads(re.search(r'<script id="workflow-desc">\s*var workflow_desc = (.*?);\s*</script>', html, re.S)[1])


#: A study defined here, in the test: one new module in gannorm/studies/ and a config entry are all
#: it takes (docs/extending.md, "Adding a study").
PLUGIN_MODULE = '''"""A plug-in study written by tests/test_workflow.py: batch vs weight normalization in a tiny DCGAN."""

from gannorm.studies import Claim, Study

PLUGIN = Study(
    paper="plugin_bn_vs_wn",
    title="Plug-in study: BN vs WN",
    citation="the plug-in test",
    architecture="dcgan",
    variants=("batch", "weight"),
    claims=(Claim("WN has a lower final reconstruction loss than BN", "final_recon", ("weight",), ("batch",),
                  "the plug-in test"),),
    figures=("running_loss", "reconstructions"),
)
'''

PLUGIN_CONFIG = {
    "name": "plugin", "device": "cpu",
    "datasets": {"digits": {"source": "digits", "size": 16, "test_images": 32}},
    "studies": {"mine": {
        "paper": "plugin_bn_vs_wn", "dataset": "digits", "seeds": [0, 1, 2],
        "model": {"width": 8, "latent": 8},
        "train": {"iterations": 10, "batch_size": 16, "log_every": 5, "eval_every": 5, "eval_images": 8,
                  "eval_steps": 5, "sample_every": 10, "samples": 4},
        "evaluate": {"images": 16, "steps": 10, "batch_size": 16, "reconstructions": 4},
    }},
}


@pytest.mark.workflow
def test_a_study_defined_in_a_test_runs_to_a_pdf_without_editing_any_other_file(tmp_path):
    workdir = workflow_copy(tmp_path)
    before = {p: p.read_bytes() for p in workdir.rglob("*") if p.is_file()}
    (workdir / "src" / "gannorm" / "studies" / "plugin_bn_vs_wn.py").write_text(PLUGIN_MODULE)
    (workdir / "plugin.yaml").write_text(yaml.safe_dump(PLUGIN_CONFIG))
    result = snakemake(workdir, "--cores", "2", "--configfile", "plugin.yaml")
    assert result.returncode == 0, result.stderr[-4000:]
    assert all(p.read_bytes() == data for p, data in before.items()), "a plug-in study must not need other edits"
    results = workdir / "results" / "plugin"
    assert (results / "report.pdf").read_bytes()[:5] == b"%PDF-"
    assert "report_mine" in result.stdout + result.stderr
    for variant in ("batch", "weight"):
        for seed in (0, 1, 2):
            assert (results / "runs" / "mine" / f"dcgan-{variant}" / f"seed{seed}" / "final_eval.json").is_file()
    section = (results / "report" / "study_mine.tex").read_text()
    assert "WN has a lower final reconstruction loss than BN: \\textbf{" in section
    assert "3 seeds" in section and "95\\% CI" in section
    assert (results / "figures" / "mine_reconstructions.pdf").stat().st_size > 1000
    assert not (results / "figures" / "mine_samples.pdf").exists(), "only the figures the study declares"
