# Trained run -> final evaluation of the best and the last checkpoint on held-out data
# (gannorm.evaluate.final.evaluate_run): for every image GAN the 2,000-step reconstruction loss
# (Xiang & Li 2017, section 5.1); for super-resolution the test perceptual loss and pixel
# histograms; for the 2-D toy study the losses against ln 2, the mean shift and the energy distance.
# With a study's evaluate.inception_weights, image GANs also get IS, FID and KID (torch-fidelity) of
# evaluate.fidelity_samples samples against the store's test split (real features cached in
# <store>/fidelity/, which no rule declares: a cache, checked against the store and the weights).
# GPU claiming as in train.smk (the config's gpu section as CLI options).


rule final_eval:
    input:
        best=f"{RESULTS}/runs/{{study}}/{{arch}}-{{variant}}/seed{{seed}}/checkpoints/best.pt",
        last=f"{RESULTS}/runs/{{study}}/{{arch}}-{{variant}}/seed{{seed}}/checkpoints/last.pt",
        run=f"{RESULTS}/runs/{{study}}/{{arch}}-{{variant}}/seed{{seed}}/run.json",
        sidecar=lambda w: f"{study_store(w)}/store.json",
        # only with evaluate.inception_weights (IS/FID/KID, gannorm.metrics.fidelity); else none
        inception=inception_weights,
    output:
        final=f"{RESULTS}/runs/{{study}}/{{arch}}-{{variant}}/seed{{seed}}/final_eval.json",
        reconstructions=f"{RESULTS}/runs/{{study}}/{{arch}}-{{variant}}/seed{{seed}}/reconstructions.npz",
    params:
        study=evaluate_json,
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
            "evaluate --store {params.store:q} --spec {params.study:q} --device {params.device:q} --threads {threads}",
            "--jobs-per-gpu {config[gpu][jobs_per_gpu]:q} --gpu-lock-dir={config[gpu][lock_dir]:q} --gpu-wait {config[gpu][wait_seconds]:q}",
            "--run {params.run_dir:q}",
            "> {log:q} 2>&1",
        )
