# Source -> store: each configured dataset becomes a uint8 array + JSON sidecar, once.
#
#   download_<source>  raw files under <data_root>/<source>/ (fetched, or checked when placed by
#                      hand: ImageNet always, CelebA/LSUN when their hosts refuse); output: the
#                      manifest <data_root>/<source>/download.json. Run on the submitting host
#                      (localrules): cluster nodes often have no network. The log is also teed
#                      to the terminal, so a missing-files message is seen at once.
#   prepare_dataset    results/<name>/data/<dataset>/store.json (written last, so it marks a complete
#                      store) beside images.npy (and inputs.npy), or points.npy for the 2-D toy
#                      source; its input is the source's download manifest (none for the bundled
#                      digits, photo_patches, toy2d)
import shlex

from gannorm.data.download import DOWNLOADABLE, download_specs, manifest_path, raw_fingerprint

DATA_ROOT = config["data_root"]
# Every configured dataset's store sidecar (rule all lists them, so every store gets built).
ALL_STORES = [f"{store_dir(dataset)}/store.json" for dataset in DATASETS]


def download_spec_options(source):
    """The ``--spec JSON`` options of ``source``'s download rule: one per configured dataset of the
    source, with only the keys that matter to the download (gannorm.data.download.download_specs)."""
    return " ".join(
        f"--spec {shlex.quote(json.dumps(spec, sort_keys=True))}"
        for spec in download_specs(DATASETS, source)
    )


def raw_inputs(wildcards):
    """The download manifest that a dataset's preparation needs (none for bundled sources)."""
    source = DATASETS[wildcards.dataset]["source"]
    return [str(manifest_path(DATA_ROOT, source))] if source in DOWNLOADABLE else []


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
        specs=download_spec_options("cifar10"),
    log:
        f"{RESULTS}/logs/download/cifar10.log",
    conda:
        "../../envs/gannorm.yaml"
    shell:
        "PYTHONPATH=src${{PYTHONPATH:+:$PYTHONPATH}} python -m gannorm.data.download "
        "--source cifar10 --data-root {params.data_root:q} {params.specs} 2>&1 | tee {log:q}"


rule download_celeba:
    output:
        str(manifest_path(DATA_ROOT, "celeba")),
    params:
        data_root=lambda w, output: os.path.dirname(os.path.dirname(output[0])),
        specs=download_spec_options("celeba"),
    log:
        f"{RESULTS}/logs/download/celeba.log",
    conda:
        "../../envs/gannorm.yaml"
    shell:
        "PYTHONPATH=src${{PYTHONPATH:+:$PYTHONPATH}} python -m gannorm.data.download "
        "--source celeba --data-root {params.data_root:q} {params.specs} 2>&1 | tee {log:q}"


rule download_lsun:
    output:
        str(manifest_path(DATA_ROOT, "lsun")),
    params:
        data_root=lambda w, output: os.path.dirname(os.path.dirname(output[0])),
        specs=download_spec_options("lsun"),
    log:
        f"{RESULTS}/logs/download/lsun.log",
    conda:
        "../../envs/gannorm.yaml"
    shell:
        "PYTHONPATH=src${{PYTHONPATH:+:$PYTHONPATH}} python -m gannorm.data.download "
        "--source lsun --data-root {params.data_root:q} {params.specs} 2>&1 | tee {log:q}"


rule download_imagenet:
    output:
        str(manifest_path(DATA_ROOT, "imagenet")),
    params:
        data_root=lambda w, output: os.path.dirname(os.path.dirname(output[0])),
        specs=download_spec_options("imagenet"),
    log:
        f"{RESULTS}/logs/download/imagenet.log",
    conda:
        "../../envs/gannorm.yaml"
    shell:
        "PYTHONPATH=src${{PYTHONPATH:+:$PYTHONPATH}} python -m gannorm.data.download "
        "--source imagenet --data-root {params.data_root:q} {params.specs} 2>&1 | tee {log:q}"


rule prepare_dataset:
    input:
        raw_inputs,
    output:
        sidecar=f"{RESULTS}/data/{{dataset}}/store.json",
    params:
        spec=lambda w: json.dumps(DATASETS[w.dataset], sort_keys=True),
        data_root=config["data_root"],
        # the raw files as they are now (names, sizes, mtimes, small files' content): a repaired
        # image or an edited partition file changes it, and a changed parameter reruns the job
        raw_files=lambda w: raw_fingerprint(DATA_ROOT, DATASETS[w.dataset]["source"])
        if DATASETS[w.dataset]["source"] in DOWNLOADABLE else "",
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
            "prepare --dataset {wildcards.dataset:q} --spec {params.spec:q}",
            "--data-root {params.data_root:q} --out {params.out:q} > {log:q} 2>&1",
        )
        + " && tail -n 1 {log:q}"  # the console shows how many items were used and skipped
