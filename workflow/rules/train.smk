# Store -> trained run: one job per cell and seed; one GPU per job when run on GPUs. The study's
# architecture picks the training algorithm (gannorm.train.loop.objective_class: the GAN, WGAN-GP,
# super-resolution or 2-D toy objective under one harness).
#
# GPUs: `snakemake --resources gpu=N` bounds the jobs running at once; each job then claims a free
# GPU itself (gannorm.gpu: a lock file per device slot, CUDA_VISIBLE_DEVICES set before torch starts
# CUDA), k jobs per GPU with config gpu.jobs_per_gpu = k. On device cpu the jobs ask for no GPU.
# The config's gpu section reaches the CLI as --jobs-per-gpu, --gpu-lock-dir and --gpu-wait, read
# from `config` when the command is formatted (not params), so changing it reruns no finished job.
#
# Resume: the job writes <run>/resume/ every train.resume_every iterations and on SIGTERM or SIGINT
# (Ctrl-C; the job then exits 143 or 130). It is not a declared output, so Snakemake keeps it when
# the job fails; rerun with --rerun-incomplete and the job continues from it. It is removed when the
# run finishes.
#
# <run>/snapshots/ (train.snapshot_at) is not declared either: it exists only when a snapshot was
# saved, and the job itself clears it when it starts over (gannorm.train.loop.train_run).

rule train:
    input:
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
        run_dir=lambda w, output: os.path.dirname(output.metrics),
    log:
        f"{RESULTS}/logs/train/{{study}}/{{arch}}-{{variant}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{study}}/{{arch}}-{{variant}}/seed{{seed}}.tsv"
    threads: config["threads"]["train"]
    resources:
        gpu=gpus_per_job("train"),
        mem_mb=config["resources"]["train"]["mem_mb"],
        runtime=config["resources"]["train"]["runtime"],
    conda:
        "../../envs/gannorm.yaml"
    shell:
        cli(
            "train --store {params.store:q} --study {wildcards.study:q} --spec {params.study:q}",
            "--architecture {wildcards.arch:q} --variant {wildcards.variant:q} --seed {wildcards.seed:q}",
            "--device {params.device:q} --threads {threads}",
            "--jobs-per-gpu {config[gpu][jobs_per_gpu]:q} --gpu-lock-dir={config[gpu][lock_dir]:q} --gpu-wait {config[gpu][wait_seconds]:q}",
            "--out {params.run_dir:q}",
            "> {log:q} 2>&1",
        )
