# Store -> trained run: one job per cell and seed; one GPU per job when run on GPUs.


rule train:
    input:
        images=lambda w: f"{study_store(w)}/images.npy",
        sidecar=lambda w: f"{study_store(w)}/store.json",
    output:
        metrics=f"{RESULTS}/runs/{{study}}/{{arch}}-{{variant}}/seed{{seed}}/metrics.csv",
        best=f"{RESULTS}/runs/{{study}}/{{arch}}-{{variant}}/seed{{seed}}/checkpoints/best.pt",
        last=f"{RESULTS}/runs/{{study}}/{{arch}}-{{variant}}/seed{{seed}}/checkpoints/last.pt",
        run=f"{RESULTS}/runs/{{study}}/{{arch}}-{{variant}}/seed{{seed}}/run.json",
        samples=directory(f"{RESULTS}/runs/{{study}}/{{arch}}-{{variant}}/seed{{seed}}/samples"),
    params:
        study=study_json,
        store=study_store,
        device=config["device"],
    log:
        f"{RESULTS}/logs/train/{{study}}/{{arch}}-{{variant}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{study}}/{{arch}}-{{variant}}/seed{{seed}}.tsv"
    threads: config["threads"]["train"]
    resources:
        gpu=config["resources"]["train"]["gpu"],
        mem_mb=config["resources"]["train"]["mem_mb"],
        runtime=config["resources"]["train"]["runtime"],
    conda:
        "../../envs/gannorm.yaml"
    shell:
        cli(
            "train --store {params.store} --study {wildcards.study} --spec {params.study:q}",
            "--architecture {wildcards.arch} --variant {wildcards.variant} --seed {wildcards.seed}",
            "--device {params.device} --threads {threads}",
            "--out {RESULTS}/runs/{wildcards.study}/{wildcards.arch}-{wildcards.variant}/seed{wildcards.seed}",
            "> {log} 2>&1",
        )
