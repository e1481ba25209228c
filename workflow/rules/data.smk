# Source -> store: each configured dataset becomes a uint8 array + JSON sidecar, once.
#
#   download_<source>  raw files under <data_root>/<source>/ (fetched, or checked when placed by
#                      hand: ImageNet always, CelebA/LSUN when their hosts refuse); output: the
#                      manifest <data_root>/<source>/download.json. Run on the submitting host
#                      (localrules): cluster nodes often have no network.
#   prepare_dataset    results/<name>/data/<dataset>/store.json (written last, so it marks a complete
#                      store) beside images.npy (and inputs.npy), or points.npy for the 2-D toy
#                      source; its input is the source's download manifest (none for the bundled
#                      digits, photo_patches, toy2d)
from gannorm.data.download import manifest_path, raw_inputs, rule_shell, rule_specs

DATA_ROOT = config["data_root"]
# Every configured dataset's store sidecar (rule all lists them, so every store gets built).
ALL_STORES = [f"{store_dir(dataset)}/store.json" for dataset in DATASETS]


localrules:
    download_cifar10,
    download_celeba,
    download_lsun,
    download_imagenet,


rule download_cifar10:
    output:
        str(manifest_path(DATA_ROOT, "cifar10")),
    params:
        data_root=lambda w, output: os.path.dirname(os.path.dirname(output[0])),
        specs=rule_specs(DATASETS, "cifar10"),
    log:
        f"{RESULTS}/logs/download/cifar10.log",
    conda:
        "../../envs/gannorm.yaml"
    shell:
        rule_shell("cifar10")


rule download_celeba:
    output:
        str(manifest_path(DATA_ROOT, "celeba")),
    params:
        data_root=lambda w, output: os.path.dirname(os.path.dirname(output[0])),
        specs=rule_specs(DATASETS, "celeba"),
    log:
        f"{RESULTS}/logs/download/celeba.log",
    conda:
        "../../envs/gannorm.yaml"
    shell:
        rule_shell("celeba")


rule download_lsun:
    output:
        str(manifest_path(DATA_ROOT, "lsun")),
    params:
        data_root=lambda w, output: os.path.dirname(os.path.dirname(output[0])),
        specs=rule_specs(DATASETS, "lsun"),
    log:
        f"{RESULTS}/logs/download/lsun.log",
    conda:
        "../../envs/gannorm.yaml"
    shell:
        rule_shell("lsun")


rule download_imagenet:
    output:
        str(manifest_path(DATA_ROOT, "imagenet")),
    params:
        data_root=lambda w, output: os.path.dirname(os.path.dirname(output[0])),
        specs=rule_specs(DATASETS, "imagenet"),
    log:
        f"{RESULTS}/logs/download/imagenet.log",
    conda:
        "../../envs/gannorm.yaml"
    shell:
        rule_shell("imagenet")


rule prepare_dataset:
    input:
        lambda w: raw_inputs(DATASETS, w.dataset, DATA_ROOT),
    output:
        sidecar=f"{RESULTS}/data/{{dataset}}/store.json",
    params:
        spec=lambda w: json.dumps(DATASETS[w.dataset], sort_keys=True),
        data_root=config["data_root"],
        out=lambda w, output: os.path.dirname(output.sidecar),
    log:
        f"{RESULTS}/logs/prepare_dataset/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/prepare_dataset/{{dataset}}.tsv"
    threads: 4
    conda:
        "../../envs/gannorm.yaml"
    shell:
        "GANNORM_WORKERS={threads} "
        + cli(
            "prepare --dataset {wildcards.dataset} --spec {params.spec:q}",
            "--data-root {params.data_root:q} --out {params.out:q} > {log} 2>&1",
        )
