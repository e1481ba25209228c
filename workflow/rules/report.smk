# Runs -> report: per study its tables (CSV + LaTeX), figures, a summary with the paper's claim and
# computed verdicts, and a methods section; then paper/report.tex compiled by latexmk into
# results/<name>/report.pdf (DESIGN.md sections 2-3).
#   snakemake --cores 1 report      regenerate tables, figures and the PDF only
#
# Which tables and figures a study gets depends on its report kind (gannorm.report.kinds: gan for
# dcgan/resnet/mlp, wgan for iwgan/wgan_resnet, sr, toy2d). One job per table and per figure:
#   aggregate_tables   tables/<study>.{csv,tex} (results) and tables/<study>_<table>.{csv,tex}
#   plot_figures       figures/<study>_<figure>.pdf
#   write_summary      report/summary_<study>.tex (summary, published claim, verdicts)
#   write_methods      report/methods_<study>.tex, report/study_<study>.tex (question, methods, includes)
#   report             report.pdf from exactly the files of each study's kind
import os
import re

from gannorm.report.curves import cli_options
from gannorm.report.kinds import (
    FIGURE_RUN_FILES,
    SUMMARY_RUN_FILES,
    TABLE_RUN_FILES,
    figure_stems,
    report_kind,
    run_inputs,
    table_stems,
)
from gannorm.report.latex import latex_inputs
from gannorm.report.papers import default_published

REPORT_PDF = f"{RESULTS}/report.pdf"
REPORT_KIND = {study: report_kind(spec.get("architecture")) for study, spec in STUDIES.items()}
# file stem (the {table} / {figure} wildcard) -> (study, kind, table / figure)
REPORT_TABLES = {
    stem: (study, REPORT_KIND[study], table)
    for stem, (study, table) in table_stems(REPORT_KIND).items()
}
REPORT_FIGURES = {
    stem: (study, REPORT_KIND[study], figure)
    for stem, (study, figure) in figure_stems(REPORT_KIND).items()
}
# every per-study file the LaTeX build reads (tables, summaries, methods, sections, figures)
REPORT_STUDY_FILES = [
    f"{RESULTS}/{path}" for study in STUDIES for path in latex_inputs(study, REPORT_KIND[study])
]
# per study: report CLI options from studies.<s>.report, the published source, the store sidecar
REPORT_OPTIONS = {study: cli_options(spec.get("report")) for study, spec in STUDIES.items()}
REPORT_PUBLISHED = {
    study: default_published(spec, DATASETS[spec["dataset"]]["source"])
    for study, spec in STUDIES.items()
}
REPORT_STORE = {
    study: f"{store_dir(spec['dataset'])}/store.json" for study, spec in STUDIES.items()
}


rule aggregate_tables:
    input:
        runs=lambda w: run_inputs(
            study_run_dirs(REPORT_TABLES[w.table][0]), TABLE_RUN_FILES[REPORT_TABLES[w.table][1:]]
        ),
        store=lambda w: REPORT_STORE[REPORT_TABLES[w.table][0]],
    output:
        csv=f"{RESULTS}/tables/{{table}}.csv",
        tex=f"{RESULTS}/tables/{{table}}.tex",
    wildcard_constraints:
        table="|".join(re.escape(stem) for stem in REPORT_TABLES),
    params:
        study=lambda w: REPORT_TABLES[w.table][0],
        name=lambda w: REPORT_TABLES[w.table][2],
        runs=lambda w: study_run_dirs(REPORT_TABLES[w.table][0]),
        published=lambda w: REPORT_PUBLISHED[REPORT_TABLES[w.table][0]],
        options=lambda w: REPORT_OPTIONS[REPORT_TABLES[w.table][0]],
    log:
        f"{RESULTS}/logs/report/aggregate_tables_{{table}}.log",
    conda:
        "../../envs/gannorm.yaml"
    shell:
        cli(
            "report table --study {params.study} --name {params.name} --runs {params.runs:q}",
            "--published {params.published} --store {input.store:q} {params.options}",
            "--csv {output.csv:q} --tex {output.tex:q} > {log} 2>&1",
        )


rule plot_figures:
    input:
        lambda w: run_inputs(
            study_run_dirs(REPORT_FIGURES[w.figure][0]), FIGURE_RUN_FILES[REPORT_FIGURES[w.figure][1:]]
        ),
    output:
        pdf=f"{RESULTS}/figures/{{figure}}.pdf",
    wildcard_constraints:
        figure="|".join(re.escape(stem) for stem in REPORT_FIGURES),
    params:
        study=lambda w: REPORT_FIGURES[w.figure][0],
        name=lambda w: REPORT_FIGURES[w.figure][2],
        runs=lambda w: study_run_dirs(REPORT_FIGURES[w.figure][0]),
        options=lambda w: REPORT_OPTIONS[REPORT_FIGURES[w.figure][0]],
    log:
        f"{RESULTS}/logs/report/plot_figures_{{figure}}.log",
    conda:
        "../../envs/gannorm.yaml"
    shell:
        cli(
            "report figure --study {params.study} --name {params.name} --runs {params.runs:q}",
            "{params.options} --out {output.pdf:q} > {log} 2>&1",
        )


rule write_summary:
    input:
        runs=lambda w: run_inputs(
            study_run_dirs(w.study), SUMMARY_RUN_FILES[REPORT_KIND[w.study]]
        ),
        store=lambda w: REPORT_STORE[w.study],
    output:
        summary=f"{RESULTS}/report/summary_{{study}}.tex",
    params:
        runs=lambda w: study_run_dirs(w.study),
        published=lambda w: REPORT_PUBLISHED[w.study],
        options=lambda w: REPORT_OPTIONS[w.study],
    log:
        f"{RESULTS}/logs/report/write_summary_{{study}}.log",
    conda:
        "../../envs/gannorm.yaml"
    shell:
        cli(
            "report summary --study {wildcards.study} --runs {params.runs:q}",
            "--published {params.published} --store {input.store:q} {params.options}",
            "--out {output.summary:q} > {log} 2>&1",
        )


rule write_methods:
    input:
        runs=lambda w: [f"{d}/run.json" for d in study_run_dirs(w.study)],
        store=lambda w: REPORT_STORE[w.study],
    output:
        methods=f"{RESULTS}/report/methods_{{study}}.tex",
        section=f"{RESULTS}/report/study_{{study}}.tex",
    params:
        runs=lambda w: study_run_dirs(w.study),
        title=lambda w: STUDIES[w.study].get("title") or w.study,
        published=lambda w: REPORT_PUBLISHED[w.study],
        options=lambda w: REPORT_OPTIONS[w.study],
    log:
        f"{RESULTS}/logs/report/write_methods_{{study}}.log",
    conda:
        "../../envs/gannorm.yaml"
    shell:
        cli(
            "report methods --study {wildcards.study} --runs {params.runs:q} --store {input.store:q}",
            "--title {params.title:q} --published {params.published} {params.options}",
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
        kinds=[REPORT_KIND[study] for study in STUDIES],
        name=config["name"],
    log:
        f"{RESULTS}/logs/report/report.log",
    conda:
        "../../envs/gannorm.yaml"
    shell:
        cli(
            "report build --results-dir {params.results:q} --tex {input.tex:q} --studies {params.studies:q}",
            "--kinds {params.kinds} --name {params.name:q} --out {output.pdf:q} > {log} 2>&1",
        )
