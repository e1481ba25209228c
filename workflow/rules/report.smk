# Runs -> report: per study a table (CSV + LaTeX), three figures and a methods section; then
# paper/report.tex compiled by latexmk into results/<name>/report.pdf (DESIGN.md sections 2-3).
#   snakemake --cores 1 report      regenerate tables, figures and the PDF only

import os

from gannorm.report.latex import study_files
from gannorm.report.tables import default_published

REPORT_PDF = f"{RESULTS}/report.pdf"
# a study's report files, with a {study} wildcard (the layout lives in gannorm.report.latex)
REPORT_FILES = {key: f"{RESULTS}/{path}" for key, path in study_files("{study}").items()}
# every per-study file the LaTeX build reads (tables, summaries, methods, sections, figures)
REPORT_STUDY_FILES = [f"{RESULTS}/{path}" for study in STUDIES for path in study_files(study).values()]


rule aggregate_tables:
    input:
        lambda w: [f"{d}/{f}" for d in study_run_dirs(w.study) for f in ("run.json", "final_eval.json")],
    output:
        csv=REPORT_FILES["csv"],
        tex=REPORT_FILES["table"],
        summary=REPORT_FILES["summary"],
    params:
        runs=lambda w: study_run_dirs(w.study),
        published=lambda w: default_published(STUDIES[w.study]),
    log:
        f"{RESULTS}/logs/report/aggregate_tables_{{study}}.log",
    conda:
        "../../envs/gannorm.yaml"
    shell:
        cli(
            "report tables --study {wildcards.study} --runs {params.runs:q} --published {params.published}",
            "--csv {output.csv:q} --tex {output.tex:q} --summary {output.summary:q} > {log} 2>&1",
        )


rule plot_figures:
    input:
        lambda w: [
            f"{d}/{f}"
            for d in study_run_dirs(w.study)
            for f in ("run.json", "metrics.csv", "samples", "reconstructions.npz")
        ],
    output:
        running_loss=REPORT_FILES["running_loss"],
        samples=REPORT_FILES["samples"],
        reconstructions=REPORT_FILES["reconstructions"],
    params:
        runs=lambda w: study_run_dirs(w.study),
    log:
        f"{RESULTS}/logs/report/plot_figures_{{study}}.log",
    conda:
        "../../envs/gannorm.yaml"
    shell:
        cli(
            "report figures --study {wildcards.study} --runs {params.runs:q}",
            "--running-loss {output.running_loss:q} --samples {output.samples:q}",
            "--reconstructions {output.reconstructions:q} > {log} 2>&1",
        )


rule write_methods:
    input:
        runs=lambda w: [f"{d}/run.json" for d in study_run_dirs(w.study)],
        store=lambda w: f"{study_store(w)}/store.json",
    output:
        methods=REPORT_FILES["methods"],
        section=REPORT_FILES["section"],
    params:
        runs=lambda w: study_run_dirs(w.study),
        title=lambda w: STUDIES[w.study].get("title", w.study),
        published=lambda w: default_published(STUDIES[w.study]),
    log:
        f"{RESULTS}/logs/report/write_methods_{{study}}.log",
    conda:
        "../../envs/gannorm.yaml"
    shell:
        cli(
            "report methods --study {wildcards.study} --runs {params.runs:q} --store {input.store:q}",
            "--title {params.title:q} --published {params.published}",
            "--out {output.methods:q} --section {output.section:q} > {log} 2>&1",
        )


rule report:
    input:
        tex="paper/report.tex",
        studies=REPORT_STUDY_FILES,
    output:
        pdf=REPORT_PDF,
    params:
        results=lambda w, output: os.path.dirname(output.pdf),
        studies=list(STUDIES),
        name=config["name"],
    log:
        f"{RESULTS}/logs/report/report.log",
    conda:
        "../../envs/gannorm.yaml"
    shell:
        cli(
            "report build --results-dir {params.results:q} --tex {input.tex:q} --studies {params.studies:q}",
            "--name {params.name:q} --out {output.pdf:q} > {log} 2>&1",
        )
