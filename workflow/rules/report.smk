# Runs -> report: one job per study writes all its tables (CSV + LaTeX), figures and its LaTeX
# section with the verdict of every claim (gannorm.report.latex.write_study; what a study shows is
# declared in its gannorm.studies module, its prose in paper/studies/<paper>.tex); then one job
# compiles paper/report.tex with latexmk into results/<name>/report.pdf (docs/design.md, Layout).
#   snakemake --cores 1 report [--configfile mine.yaml]   regenerate tables, figures and the PDF only
#   (the target before --configfile: after it, `report` would be read as a second config file)
from gannorm.studies import get as get_study

REPORT_PDF = f"{RESULTS}/report.pdf"
# Every declared output of a run folder that a study's report may read (it reads snapshots/ too,
# written by the same training job as run.json when train.snapshot_at lists iterations).
RUN_FILES = ("run.json", "metrics.csv", "final_eval.json", "reconstructions.npz", "samples")

# One rule per study (report_<study>), so each declares exactly the tables and figures it writes.
for _study, _spec in STUDIES.items():
    _prose = f"paper/studies/{_spec['paper']}.tex"

    rule:
        name:
            f"report_{_study}"
        input:
            runs=[f"{d}/{f}" for d in study_run_dirs(_study) for f in RUN_FILES],
            store=f"{store_dir(_spec['dataset'])}/store.json",
            prose=[_prose] if os.path.exists(_prose) else [],
        output:
            [f"{RESULTS}/{path}" for path in get_study(_spec["paper"]).report_files(_study)],
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


rule report:
    input:
        tex="paper/report.tex",
        sections=[f"{RESULTS}/report/study_{study}.tex" for study in STUDIES],
    output:
        pdf=REPORT_PDF,
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
