"""LaTeX text generated from the config, and the PDF build with latexmk.

Layout under ``results/<name>/`` (paths relative to it, see :func:`study_files`; which tables and
figures a study has depends on its report kind, :mod:`gannorm.report.kinds`)::

    tables/<study>.{csv,tex}  tables/<study>_<table>.{csv,tex}   (rule aggregate_tables, one job per table)
    figures/<study>_<figure>.pdf                                 (rule plot_figures, one job per figure)
    report/summary_<study>.tex                                   (rule write_summary: summary, published, verdicts)
    report/methods_<study>.tex  report/study_<study>.tex         (rule write_methods)
    report/studies.tex  report/meta.tex  report/provenance.tex  report/report.tex, *.aux, ...  (rule report)
    report.pdf                                                   (rule report, copied atomically)

``paper/report.tex`` is copied into ``report/`` and compiled there with ``TEXINPUTS`` set to
``report/``, ``results/<name>/`` and ``paper/``, so ``\\input{tables/<study>}`` and
``\\includegraphics{figures/...}`` resolve and nothing is written into ``paper/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from gannorm.io import atomic_path

LATEX_PACKAGES = ("latexmk texlive-latex-base texlive-latex-recommended texlive-latex-extra "
                  "texlive-fonts-recommended")

_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}


class LatexError(RuntimeError):
    """latexmk is missing or the LaTeX build failed."""


def escape_latex(text: str) -> str:
    """Escape LaTeX special characters (``\\ & % $ # _ { } ~ ^``) in plain text."""
    return "".join(_LATEX_SPECIALS.get(ch, ch) for ch in str(text))


def format_number(value: Any) -> str:
    """A config number as LaTeX text: ``3,000``; ``0.9``; ``$1 \\times 10^{-4}$`` for small floats."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer() and abs(value) >= 1:
            return f"{int(value):,}"
        if value != 0 and abs(value) < 1e-3:
            mantissa, exponent = f"{value:.6e}".split("e")
            mantissa = mantissa.rstrip("0").rstrip(".")
            prefix = "" if mantissa == "1" else f"{mantissa} \\times "
            return f"${prefix}10^{{{int(exponent)}}}$"
        return f"{value:g}"
    return escape_latex(str(value))


def study_files(study: str, kind: str = "gan") -> dict[str, str]:
    """Paths, relative to ``results/<name>/``, of every report file of ``study`` of report kind ``kind``.

    Keys: ``csv`` and ``table`` (the ``results`` table), ``<table>_csv`` and ``<table>_table`` for the
    kind's other tables (``steep_drop``, ``w1``; :func:`table_keys`), ``summary``, ``methods``,
    ``section``, and one key per figure (:data:`gannorm.report.kinds.KIND_FIGURES`). The LaTeX build
    reads every file but the CSVs.

    Raises:
        ValueError: an unknown kind.
    """
    from gannorm.report.kinds import KIND_FIGURES, KIND_TABLES, check_kind, figure_stem, table_stem

    files: dict[str, str] = {}
    for table in KIND_TABLES[check_kind(kind)]:
        stem = table_stem(study, table)
        csv_key, tex_key = table_keys(table)
        files[csv_key] = f"tables/{stem}.csv"
        files[tex_key] = f"tables/{stem}.tex"
    files.update({"summary": f"report/summary_{study}.tex", "methods": f"report/methods_{study}.tex",
                  "section": f"report/study_{study}.tex"})
    for figure in KIND_FIGURES[kind]:
        files[figure] = f"figures/{figure_stem(study, figure)}.pdf"
    return files


def table_keys(table: str) -> tuple[str, str]:
    """The :func:`study_files` keys ``(csv, tex)`` of a table: ``("csv", "table")`` for ``results``,
    else ``("<table>_csv", "<table>_table")``."""
    return ("csv", "table") if table == "results" else (f"{table}_csv", f"{table}_table")


def latex_inputs(study: str, kind: str = "gan") -> list[str]:
    """The files of :func:`study_files` that the LaTeX build reads (all but the CSVs)."""
    return [path for key, path in study_files(study, kind).items() if not path.endswith(".csv")]


def _get(config: Mapping[str, Any], dotted: str) -> Any:
    node: Any = config
    for key in dotted.split("."):
        if not isinstance(node, Mapping) or key not in node:
            raise KeyError(f"study config has no '{dotted}'")
        node = node[key]
    return node


def _list(items: Iterable[Any], code: bool = False) -> str:
    words = [f"\\texttt{{{escape_latex(str(i))}}}" if code else format_number(i) for i in items]
    if len(words) <= 2:
        return " and ".join(words)
    return ", ".join(words[:-1]) + ", and " + words[-1]


#: Optimizer of an architecture when ``train.optimizer`` is not set (the schema's per-architecture default).
DEFAULT_OPTIMIZER = {"dcgan": "rmsprop", "resnet": "rmsprop"}
#: Adam betas of an architecture when ``train.adam_betas`` is not set (the schema's defaults).
DEFAULT_ADAM_BETAS = {"mlp": (0.5, 0.999), "iwgan": (0.9, 0.99), "wgan_resnet": (0.9, 0.99), "sr": (0.9, 0.999)}

_ARCH_NAMES = {
    "dcgan": "DCGAN (Xiang \\& Li)", "resnet": "21-layer ResNet GAN (Xiang \\& Li)", "mlp": "MLP GAN (the tutorial)",
    "iwgan": "iWGAN (the WGAN-GP DCGAN-like model of Gulrajani et al., as used by Mullery \\& Whelan)",
    "wgan_resnet": "WGAN-GP ResNet (Gulrajani et al., as used by Wu et al.)",
    "sr": "4$\\times$ super-resolution network (Johnson et al.)", "toy2d": "2-D toy GAN (Johannsmeier)",
}


def _optimizer_sentence(config: Mapping[str, Any], architecture: str) -> str:
    train = config.get("train") or {}
    optimizer = train.get("optimizer") or DEFAULT_OPTIMIZER.get(architecture, "adam")
    if optimizer == "rmsprop":
        return (f"RMSProp with learning rate {format_number(_get(config, 'train.lr'))}, $\\alpha$ = "
                f"{format_number(_get(config, 'train.rmsprop_alpha'))} and $\\epsilon$ = "
                f"{format_number(_get(config, 'train.rmsprop_eps'))}")
    betas = train.get("adam_betas") or DEFAULT_ADAM_BETAS.get(architecture)
    text = f"Adam with learning rate {format_number(_get(config, 'train.lr'))}"
    if betas:
        text += f", $\\beta_1$ = {format_number(float(betas[0]))} and $\\beta_2$ = {format_number(float(betas[1]))}"
    if train.get("lr_decay", "none") == "linear":
        text += ", decayed linearly to 0 at the last iteration"
    return text


def _model_bits(model: Mapping[str, Any], architecture: str = "dcgan") -> list[str]:
    bits = []
    for key, name in (("width", "base width"), ("latent", "latent dimension"), ("hidden", "hidden units"),
                      ("head", "output head")):
        if key in model:
            bits.append(f"{name} {format_number(model[key]) if key != 'head' else escape_latex(model[key])}")
    if model.get("features"):
        bits.append("features " + ", ".join(format_number(int(f)) for f in model["features"]))
    if model.get("vgg_weights") and architecture == "sr":
        bits.append(f"VGG16 weights \\texttt{{{escape_latex(model['vgg_weights'])}}}")
    return bits


def _data_text(dataset: str, store_meta: Mapping[str, Any] | None) -> str:
    data = f"the \\texttt{{{escape_latex(dataset)}}} dataset"
    if store_meta:
        shape = list(store_meta.get("shape", []))
        split = store_meta.get("split", {})
        if len(shape) == 4:
            data += (f" ({format_number(int(shape[0]))} images of {shape[1]} channel{'s' if shape[1] != 1 else ''}"
                     f" at ${shape[2]} \\times {shape[3]}$ pixels")
            if "train_count" in split and "test_count" in split:
                data += (f"; {format_number(int(split['train_count']))} for training and "
                         f"{format_number(int(split['test_count']))} held out for testing")
            data += ")"
    return data


def _running_and_final_recon(config: Mapping[str, Any]) -> list[str]:
    return [
        f"Every {format_number(_get(config, 'train.eval_every'))} iterations a running reconstruction loss is "
        f"measured on a fixed subset of {format_number(_get(config, 'train.eval_images'))} test images, optimising "
        f"each image's latent code from $z = 0$ for {format_number(_get(config, 'train.eval_steps'))} RMSProp steps "
        f"(learning rate {format_number(_get(config, 'train.eval_lr'))}); the checkpoint with the lowest running "
        "loss is kept as the best checkpoint.",
        f"The final evaluation runs {format_number(_get(config, 'evaluate.steps'))} steps (learning rate "
        f"{format_number(_get(config, 'evaluate.lr'))}) on {format_number(_get(config, 'evaluate.images'))} test "
        "images for both the best and the last checkpoint, with batch normalization in inference mode. "
        "The reconstruction loss of an image $x$ with $c$ channels of $h \\times w$ pixels in $[0, 1]$ is "
        "$\\min_z \\lVert G(z) - x \\rVert^2 / (c\\,h\\,w)$, averaged over the images.",
    ]


def _snapshot_text(config: Mapping[str, Any], what: str) -> str:
    train = config.get("train") or {}
    at = list(train.get("snapshot_at") or [])
    if not at:
        return "No snapshot iterations are configured (\\texttt{train.snapshot\\_at} is empty)."
    bins = int(train.get("histogram_bins", 256))
    return (f"At generator iterations {_list(at)} the pixel histogram ({format_number(bins)} bins on $[0, 1]$) of "
            f"{what} is saved beside the training data's, with the Wasserstein-1 distance $W_1$ between the two "
            "per colour channel (in units of the pixel range; reported as the mean over channels).")


def _wgan_text(config: Mapping[str, Any], options: Any) -> list[str]:
    train = config.get("train") or {}
    warm_g = int(train.get("critic_warmup_generator_iterations", 25))
    extra = list(train.get("critic_extra_at", [500]) or [])
    schedule = f"the critic takes {format_number(int(train.get('critic_iterations', 5)))} steps per generator iteration"
    special = []
    if warm_g:
        special.append(f"during the first {format_number(warm_g)} generator iterations")
    if extra:
        special.append(f"at generator iteration{'s' if len(extra) > 1 else ''} {_list(extra)}")
    if special:
        schedule += (f", {format_number(int(train.get('critic_warmup_iterations', 50)))} "
                     + " and ".join(special))
    return [
        f"The WGAN-GP objective (Gulrajani et al.) uses a gradient penalty of weight $\\lambda$ = "
        f"{format_number(float(train.get('gp_weight', 10)))}; {schedule}.",
        "The critic loss logged per generator iteration is $D(\\text{fake}) - D(\\text{real})$ averaged over that "
        "iteration's critic steps (the negative Wasserstein estimate, without the penalty); closer to 0 means "
        f"closer distributions. The report smooths it with a {format_number(int(options.running_mean))}-iteration "
        "trailing running mean $\\bar c$ (as Mullery \\& Whelan do with 100 points) and defines the \\emph{steep drop} "
        "as the first generator iteration after the peak of $|\\bar c|$ at which $|\\bar c|$ falls below "
        f"{format_number(float(options.steep_drop_fraction))} of that peak. Mullery \\& Whelan read off where the drop "
        "begins, which lies somewhat earlier, so their iterations and ours compare in order, not in value.",
        _snapshot_text(config, "samples from a fixed latent batch"),
    ]


def _sr_text(config: Mapping[str, Any], options: Any) -> list[str]:
    train = config.get("train") or {}
    weights = list(train.get("perceptual_weights", [0.1, 0.8, 0.1]))
    evaluate = config.get("evaluate") or {}
    text = [
        "The loss is Johnson et al.'s perceptual loss: the squared error between VGG16 features of output and "
        f"target at conv1\\_1, conv2\\_1 and conv3\\_1, weighted {_list(weights)} (Mullery \\& Whelan).",
        f"Every {format_number(_get(config, 'train.eval_every'))} iterations the running test perceptual loss is "
        f"measured on {format_number(_get(config, 'train.eval_images'))} test images; the checkpoint with the lowest "
        "is kept as the best checkpoint. The final evaluation measures, for the best and the last checkpoint, the "
        "mean test perceptual loss"
        + (f" on {format_number(int(evaluate['images']))} test images" if "images" in evaluate else "")
        + ", the $W_1$ distance of the outputs' pixel histogram to the targets' and the per-pixel MSE.",
        _snapshot_text(config, "the network's output for the out-of-set monitor image (also shown)"),
        f"``Early in training'' means the first {format_number(round(100 * float(options.early_fraction)))}\\% of "
        f"the iterations; the training curve is shown as a {format_number(int(options.running_mean))}-iteration "
        "running mean.",
    ]
    return text


def methods_paragraph(study: str, config: Mapping[str, Any], dataset: str, store_meta: Mapping[str, Any] | None,
                      published: bool | str = False, options: Any = None) -> str:
    """The methods paragraph (LaTeX) of one study, from its resolved config.

    Args:
        study: study name (escaped in the output).
        config: the study's resolved config as recorded in ``run.json`` (keys ``architecture``,
            ``variants``, ``seeds``, ``model.*``, ``train.{iterations, batch_size, lr, optimizer,
            rmsprop_alpha, rmsprop_eps, adam_betas, lr_decay, eval_every, eval_images, eval_steps,
            eval_lr, gp_weight, critic_*, snapshot_at, perceptual_weights}``, ``evaluate.{images,
            steps, lr}``). Keys that the objectives read with a default (``gp_weight``, ``critic_*``,
            ``perceptual_weights``, ``adam_betas``, ``optimizer``) fall back to the same defaults.
        dataset: dataset name.
        store_meta: the data store sidecar (``store.json``: ``shape`` = ``[N, C, H, W]``,
            ``split.train_count``, ``split.test_count``) or ``None`` to leave the sizes out.
        published: a published source name of :data:`gannorm.report.papers.PUBLISHED_TABLES` (or
            ``True`` for Xiang & Li's Table 2) to add the comparison note and the caveat about the
            authors' weight-norm bug; ``False``/``"none"`` for none.
        options: :class:`gannorm.report.curves.ReportOptions` (running mean, fractions).

    Returns:
        LaTeX source of one paragraph (str).

    Raises:
        KeyError: a required config key is missing (the message names it).
    """
    from gannorm.report.curves import ReportOptions
    from gannorm.report.kinds import report_kind
    from gannorm.report.papers import PUBLISHED_TABLES, published_label, store_setting

    options = options or ReportOptions()
    if published is True:
        published = "xiang_li_table2"
    if published is False or published is None:
        published = "none"
    architecture = str(config.get("architecture") or "dcgan")
    kind = report_kind(architecture)
    variants, seeds = list(_get(config, "variants")), list(_get(config, "seeds"))
    model_bits = _model_bits(config.get("model") or {}, str(config.get("architecture") or "dcgan"))
    data = _data_text(dataset, store_meta)
    if kind == "sr":
        nets = "generator"
    elif kind == "wgan":
        nets = "generator and critic"
    else:
        nets = "generator and discriminator"
    arch = (escape_latex(architecture.upper()) if architecture == "dcgan"
            else _ARCH_NAMES.get(architecture, escape_latex(architecture)))
    text = [
        f"\\paragraph{{Methods.}} Study \\texttt{{{escape_latex(study)}}} trains a {arch} {nets}"
        f"{' (' + ', '.join(model_bits) + ')' if model_bits else ''} on {data}, with "
        f"{len(variants)} normalization variant{'s' if len(variants) != 1 else ''} ({_list(variants, code=True)}) "
        f"and {len(seeds)} seed{'s' if len(seeds) != 1 else ''} ({_list(seeds)}), "
        f"{format_number(len(variants) * len(seeds))} runs in all.",
    ]
    unit = "generator iterations" if kind == "wgan" else "iterations"
    # the toy loop decides its own batch (Johannsmeier: the whole population), so it is not stated here
    batch = None if kind == "toy2d" else (config.get("train") or {}).get("batch_size")
    text.append(f"Each run trains for {format_number(_get(config, 'train.iterations'))} {unit}"
                + (f" with batch size {format_number(batch)}" if batch is not None else "")
                + f", using {_optimizer_sentence(config, architecture)}.")
    if kind == "wgan":
        text.extend(_wgan_text(config, options))
    if kind in ("gan", "wgan"):
        text.extend(_running_and_final_recon(config))
    elif kind == "sr":
        text.extend(_sr_text(config, options))
    elif kind == "toy2d":
        text.append("The final evaluation compares the discriminator's and the generator's losses with the "
                    "equilibrium value $\\ln 2$ and measures the shift between the means of generated and real "
                    "samples and a distance between the two sample sets (table below).")
    if published != "none":
        source = PUBLISHED_TABLES[published]
        ours = store_setting(store_meta, (config.get("train") or {}).get("iterations"))
        label = published_label(source, ours)
        text.append(
            f"The published numbers beside ours ({escape_latex(label)}) indicate the direction of the effect, "
            "not values these runs should match. "
            "The authors' own repository notes a bug in their weight-normalization gradient, so their "
            "exact numbers may not reproduce even at their scale.")
    return " ".join(text) + "\n"


_FIGURE_CAPTIONS = {
    "running_loss": ("0.75\\linewidth", "Running reconstruction loss during training (study \\texttt{{{name}}}); one "
                     "colour per variant, one thin line per seed; $\\times$ marks a diverged run's last logged value."),
    "samples": ("\\linewidth", "Samples from a fixed latent batch at the last saved iteration of each variant (first "
                "seed; study \\texttt{{{name}}})."),
    "reconstructions": ("\\linewidth", "Reconstructions of test images (study \\texttt{{{name}}}): the first row shows "
                        "the test images, each further row one variant's reconstructions from its best checkpoint "
                        "(first seed)."),
    "critic_loss": ("0.75\\linewidth", "Critic loss $D(\\text{{fake}}) - D(\\text{{real}})$ (negative Wasserstein "
                    "estimate) over generator iterations, {window}-iteration running mean (study \\texttt{{{name}}}); "
                    "one colour per variant, one line per seed; a dot marks each run's steep drop, $\\times$ a "
                    "diverged run's last value."),
    "histograms": ("\\linewidth", "Samples and pixel histograms at the snapshot iterations (study "
                   "\\texttt{{{name}}}, first seed of each variant): grey the training data's histogram, lines the "
                   "generated images' per channel; panel titles give the $W_1$ distance to the data."),
    "w1": ("0.75\\linewidth", "$W_1$ distance between the generated and the data pixel histograms over the "
           "snapshot iterations (study \\texttt{{{name}}}; mean over channels; one line per seed)."),
    "perceptual_loss": ("\\linewidth", "Super-resolution perceptual loss (study \\texttt{{{name}}}): left the "
                        "training loss as a {window}-iteration running mean, right the running test loss; one "
                        "colour per variant, one line per seed."),
    "monitor": ("\\linewidth", "The out-of-set monitor image's output and its pixel histogram at the snapshot "
                "iterations (study \\texttt{{{name}}}, first seed): grey the training data's histogram, lines the "
                "output's per channel; panel titles give the $W_1$ distance."),
    "outputs": ("\\linewidth", "Super-resolution of test images (study \\texttt{{{name}}}): low-resolution inputs, "
                "targets, and each variant's outputs from its best checkpoint (first seed)."),
    "scatter": ("\\linewidth", "Real and generated samples of the 2-D toy study \\texttt{{{name}}}."),
}

_KIND_INTRO = {
    "gan": "Table~\\ref{{tab:{study}}} lists the reconstruction losses per run and over seeds.",
    "wgan": ("Table~\\ref{{tab:{study}}} lists the reconstruction losses per run and over seeds, "
             "Table~\\ref{{tab:{study}_steep_drop}} the steep drop of the critic loss and "
             "Table~\\ref{{tab:{study}_w1}} the $W_1$ distance of the pixel histograms at each snapshot."),
    "sr": ("Table~\\ref{{tab:{study}}} lists the final perceptual loss, $W_1$ distance and MSE per run and over "
           "seeds, Table~\\ref{{tab:{study}_w1}} the $W_1$ distance of the monitor output's pixel histogram at each "
           "snapshot."),
    "toy2d": "Table~\\ref{{tab:{study}}} lists the final measurements per run.",
}


def study_section(study: str, title: str, kind: str = "gan", architecture: str | None = None,
                  options: Any = None) -> str:
    """The LaTeX section of one study: the paper's question, methods, the kind's tables, the summary
    (with the published claim and the verdicts) and the kind's figures.

    It includes exactly :func:`latex_inputs` ``(study, kind)`` (paths resolve through ``TEXINPUTS``
    set by :func:`build_pdf`).
    """
    from gannorm.report.curves import ReportOptions
    from gannorm.report.kinds import KIND_FIGURES, KIND_TABLES
    from gannorm.report.papers import QUESTIONS

    options = options or ReportOptions()
    files = study_files(study, kind)
    name = escape_latex(study)
    architecture = architecture or {"gan": "dcgan", "wgan": "iwgan", "sr": "sr", "toy2d": "toy2d"}[kind]

    def stem(key: str) -> str:
        path = Path(files[key])
        return (path.with_suffix("").as_posix() if path.parts[0] != "report" else path.stem)

    def figure(key: str) -> str:
        width, caption = _FIGURE_CAPTIONS[key]
        caption = caption.format(name=name, window=format_number(int(options.running_mean)))
        return ("\\begin{figure}[htbp]\n\\centering\n"
                f"\\includegraphics[width={width}]{{{files[key]}}}\n"
                f"\\caption{{{caption}}}\n\\label{{fig:{study}-{key}}}\n\\end{{figure}}\n")

    tex_keys = [table_keys(t)[1] for t in KIND_TABLES[kind]]
    parts = [f"\\section{{{escape_latex(title)}}}\n\\label{{sec:{study}}}\n"]
    if architecture in QUESTIONS:
        parts.append(QUESTIONS[architecture] + "\n\n")
    parts.append(f"\\input{{{stem('methods')}}}\n\n")
    parts.append(_KIND_INTRO[kind].format(study=study) + "\n\n")
    parts.extend(f"\\input{{{stem(key)}}}\n" for key in tex_keys)
    parts.append(f"\\input{{{stem('summary')}}}\n\n")
    parts.extend(figure(key) for key in KIND_FIGURES[kind])
    parts.append("\\clearpage\n")
    return "".join(parts)


def studies_index(studies: Sequence[str]) -> str:
    """``studies.tex``: one ``\\input{study_<name>}`` per study, in order."""
    return "".join(f"\\input{{study_{s}}}\n" for s in studies)


def infer_kinds(results_dir: str | os.PathLike, studies: Sequence[str]) -> dict[str, str]:
    """Each study's report kind from the ``architecture`` of its first ``run.json`` under
    ``<results_dir>/runs/<study>/`` (``dcgan`` when a run.json has none).

    Raises:
        LatexError: a study has no run folder.
    """
    from gannorm.io import read_json
    from gannorm.report.kinds import report_kind

    out = {}
    for study in studies:
        found = sorted((Path(results_dir) / "runs" / study).glob("*/seed*/run.json"))
        if not found:
            raise LatexError(f"cannot tell the report kind of study {study!r}: no run.json under "
                             f"{Path(results_dir) / 'runs' / study}; pass --kinds")
        run = read_json(found[0])
        out[study] = report_kind(run.get("architecture") or (run.get("config") or {}).get("architecture"))
    return out


def meta_tex(run_name: str) -> str:
    """``meta.tex``: macros for the report title (``\\gannormrun`` = the config's ``name``)."""
    return f"\\newcommand{{\\gannormrun}}{{{escape_latex(run_name)}}}\n"


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def build_pdf(tex: str | os.PathLike, results_dir: str | os.PathLike, studies: Sequence[str],
              out_pdf: str | os.PathLike, run_name: str | None = None, log_lines: int = 60,
              kinds: Mapping[str, str] | Sequence[str] | None = None) -> Path:
    """Compile the report with latexmk and copy the PDF atomically to ``out_pdf``.

    Writes ``studies.tex``, ``meta.tex``, the provenance appendix ``provenance.tex`` (+ ``.csv``,
    :mod:`gannorm.report.provenance`) and a copy of ``tex`` into ``<results_dir>/report/``
    and runs ``latexmk -pdf -interaction=nonstopmode -halt-on-error`` there. The per-study
    files that the LaTeX reads (:func:`latex_inputs` of the study's kind) must exist.

    Args:
        tex: the report's LaTeX source (``paper/report.tex``); it ``\\input``s ``meta`` and ``studies``.
        results_dir: ``results/<name>``.
        studies: study names, in report order.
        out_pdf: where the PDF goes (normally ``results/<name>/report.pdf``).
        run_name: the config's ``name`` for the title; defaults to ``results_dir``'s folder name.
        kinds: each study's report kind (a mapping, or a sequence parallel to ``studies``); default
            :func:`infer_kinds`.
        log_lines: how many trailing lines of the LaTeX log to print on failure.

    Returns:
        ``Path(out_pdf)``.

    Raises:
        LatexError: latexmk is not installed (the message names the Debian packages), a per-study
            file is missing, the kinds do not match the studies, or the build failed (the tail of the
            ``.log`` goes to stderr).
    """
    if shutil.which("latexmk") is None:
        raise LatexError(f"latexmk not found; install it, e.g. on Debian/Ubuntu: "
                         f"sudo apt-get install {LATEX_PACKAGES}")
    tex, results_dir = Path(tex).resolve(), Path(results_dir).resolve()
    build_dir = results_dir / "report"
    if kinds is None:
        kinds = infer_kinds(results_dir, studies)
    elif not isinstance(kinds, Mapping):
        kinds = list(kinds)
        if len(kinds) != len(studies):
            raise LatexError(f"{len(kinds)} kinds for {len(studies)} studies")
        kinds = dict(zip(studies, kinds))
    missing = [str(results_dir / rel) for s in studies for rel in latex_inputs(s, kinds[s])
               if not (results_dir / rel).exists()]
    if missing:
        raise LatexError("report inputs missing (run the report tables/figures/methods steps first): "
                         + ", ".join(missing))
    write_text(build_dir / "studies.tex", studies_index(studies))
    write_text(build_dir / "meta.tex", meta_tex(run_name or results_dir.name))
    from gannorm.report.provenance import write_appendix

    write_appendix(results_dir, studies, build_dir / "provenance.tex", build_dir / "provenance.csv")
    shutil.copyfile(tex, build_dir / "report.tex")
    env = dict(os.environ)
    env["TEXINPUTS"] = os.pathsep.join([str(build_dir), str(results_dir), str(tex.parent), ""])
    cmd = ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "report.tex"]
    proc = subprocess.run(cmd, cwd=build_dir, env=env, capture_output=True, text=True)
    pdf = build_dir / "report.pdf"
    if proc.returncode != 0 or not pdf.exists():
        log = build_dir / "report.log"
        if log.exists():
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-log_lines:])
        else:
            tail = (proc.stdout + proc.stderr)[-4000:]
        print(f"--- last {log_lines} lines of {log} ---\n{tail}", file=sys.stderr)
        raise LatexError(f"latexmk failed with exit status {proc.returncode} in {build_dir}; see the log tail above")
    out_pdf = Path(out_pdf)
    with atomic_path(out_pdf) as tmp:
        shutil.copyfile(pdf, tmp)
    return out_pdf
