# Trained run -> final evaluation: the 2,000-step reconstruction loss of the best and the last
# checkpoint on the held-out test images (Xiang & Li 2017, section 5.1).


rule final_eval:
    input:
        best=f"{RESULTS}/runs/{{study}}/{{arch}}-{{variant}}/seed{{seed}}/checkpoints/best.pt",
        last=f"{RESULTS}/runs/{{study}}/{{arch}}-{{variant}}/seed{{seed}}/checkpoints/last.pt",
        run=f"{RESULTS}/runs/{{study}}/{{arch}}-{{variant}}/seed{{seed}}/run.json",
        images=lambda w: f"{study_store(w)}/images.npy",
        sidecar=lambda w: f"{study_store(w)}/store.json",
    output:
        final=f"{RESULTS}/runs/{{study}}/{{arch}}-{{variant}}/seed{{seed}}/final_eval.json",
        reconstructions=f"{RESULTS}/runs/{{study}}/{{arch}}-{{variant}}/seed{{seed}}/reconstructions.npz",
    params:
        study=study_json,
        store=study_store,
        device=config["device"],
        run_dir=lambda w, output: os.path.dirname(output.final),
    log:
        f"{RESULTS}/logs/final_eval/{{study}}/{{arch}}-{{variant}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/final_eval/{{study}}/{{arch}}-{{variant}}/seed{{seed}}.tsv"
    threads: config["threads"]["evaluate"]
    resources:
        gpu=gpus_per_job("evaluate"),
        mem_mb=config["resources"]["evaluate"]["mem_mb"],
        runtime=config["resources"]["evaluate"]["runtime"],
    conda:
        "../../envs/gannorm.yaml"
    shell:
        cli(
            "evaluate --store {params.store} --spec {params.study:q} --device {params.device} --threads {threads}",
            "--run {params.run_dir:q}",
            "> {log} 2>&1",
        )
