# Source -> store: each configured dataset becomes a uint8 array + JSON sidecar, once.


rule prepare_dataset:
    output:
        images=f"{RESULTS}/data/{{dataset}}/images.npy",
        sidecar=f"{RESULTS}/data/{{dataset}}/store.json",
    params:
        spec=lambda w: json.dumps(DATASETS[w.dataset], sort_keys=True),
        data_root=config["data_root"],
    log:
        f"{RESULTS}/logs/prepare_dataset/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/prepare_dataset/{{dataset}}.tsv"
    conda:
        "../../envs/gannorm.yaml"
    shell:
        cli(
            "prepare --dataset {wildcards.dataset} --spec {params.spec:q}",
            "--data-root {params.data_root:q} --out {RESULTS}/data/{wildcards.dataset} > {log} 2>&1",
        )
