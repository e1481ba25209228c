# Runs -> report: one job per study writes all its tables (CSV + LaTeX), figures and its LaTeX
# section with the verdict of every claim (gannorm.report.latex.write_study; what a study shows is
# declared in its gannorm.studies module, its prose in paper/studies/<paper>.tex); then one job
# compiles paper/report.tex with latexmk into results/<name>/report.pdf (docs/design.md, Layout).
#   snakemake --cores 1 report [--configfile mine.yaml]   regenerate tables, figures and the PDF only
#   (the target before --configfile: after it, `report` would be read as a second config file)
# Every table, figure and section, and the PDF, is marked for Snakemake's HTML report
# (`snakemake --report results/<name>/report.html`, docs/html-report.md): category = the study,
# subcategory = the kind, labels study/kind/name/format; a table's or figure's caption is the one
# the PDF prints, written by the study's report job as captions/<table|figure>_<stem>.rst.
from gannorm.studies import get as get_study

REPORT_PDF = f"{RESULTS}/report.pdf"
# Every declared output of a run folder that a study's report may read (it reads snapshots/ too,
# written by the same training job as run.json when train.snapshot_at lists iterations).
RUN_FILES = ("run.json", "metrics.csv", "final_eval.json", "reconstructions.npz", "samples")
FORMATS = {"csv": "CSV", "tex": "LaTeX", "pdf": "PDF"}


def html_report(study, path, captions):
    """``results/<name>/<path>``, a report file of ``study``, marked for the HTML report."""
    folder, _, file = path.partition("/")
    stem, ext = file.rsplit(".", 1)
    kind = {"tables": "table", "figures": "figure"}.get(folder, "section")
    name = {"table": stem.removeprefix(study).lstrip("_") or "results", "figure": stem.removeprefix(f"{study}_")}
    caption = os.path.abspath(f"{RESULTS}/{captions[path]}") if path in captions else "../report/section.rst"
    labels = {"study": study, "kind": kind, "name": name.get(kind, "section"), "format": FORMATS[ext]}
    return report(f"{RESULTS}/{path}", caption=caption, category=study, subcategory=kind, labels=labels)


# One rule per study (report_<study>), so each declares exactly the tables and figures it writes.
for _study, _spec in STUDIES.items():
    _prose = f"paper/studies/{_spec['paper']}.tex"
    _captions = get_study(_spec["paper"]).caption_files(_study)

    rule:
        name:
            f"report_{_study}"
        input:
            runs=[f"{d}/{f}" for d in study_run_dirs(_study) for f in RUN_FILES],
            store=f"{store_dir(_spec['dataset'])}/store.json",
            prose=[_prose] if os.path.exists(_prose) else [],
        output:
            [html_report(_study, path, _captions) for path in get_study(_spec["paper"]).report_files(_study)],
            [f"{RESULTS}/{path}" for path in sorted(set(_captions.values()))],
        params:
            study=_study,
            paper=_spec["paper"],
            runs=study_run_dirs(_study),
            results=RESULTS,
            spec=report_json(_study),
        log:
            f"{RESULTS}/logs/report/{_study}.log",
        benchmark:
            f"{RESULTS}/benchmarks/report/{_study}.tsv"
        conda:
            "../../envs/gannorm.yaml"
        shell:
            cli(
                "report study --study {params.study:q} --paper {params.paper:q} --runs {params.runs:q}",
                "--results-dir {params.results:q} --store {input.store:q} --spec {params.spec:q} > {log:q} 2>&1",
            )


# The report-only target: a rule without outputs (as `all`), so Snakemake rebuilds every missing or
# outdated input of the report (a deleted final_eval.json, a study section a failed job removed)
# before the PDF; a target with outputs that exist (the PDF) would not look past them.
rule report:
    input:
        REPORT_PDF,
        [f"{d}/{f}" for study in STUDIES for d in study_run_dirs(study) for f in RUN_FILES],
        [f"{RESULTS}/{path}" for study, spec in STUDIES.items() for path in get_study(spec["paper"]).report_files(study)],


rule report_pdf:
    input:
        tex="paper/report.tex",
        sections=[f"{RESULTS}/report/study_{study}.tex" for study in STUDIES],
    output:
        pdf=report(REPORT_PDF, caption="../report/pdf.rst", category="report", subcategory="PDF",
                   labels={"study": "all", "kind": "report", "name": config["name"], "format": "PDF"}),
    params:
        results=RESULTS,
        studies=list(STUDIES),
        name=config["name"],
    log:
        f"{RESULTS}/logs/report/report.log",
    benchmark:
        f"{RESULTS}/benchmarks/report/report.tsv"
    conda:
        "../../envs/gannorm.yaml"
    shell:
        cli(
            "report build --results-dir {params.results:q} --tex {input.tex:q} --studies {params.studies:q}",
            "--name {params.name:q} --out {output.pdf:q} > {log:q} 2>&1",
        )
