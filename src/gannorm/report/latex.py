"""LaTeX text generated from the config, and the PDF build with latexmk.

Layout under ``results/<name>/`` (paths relative to it, see :func:`study_files`)::

    tables/<study>.tex  tables/<study>.csv              (report tables)
    figures/<study>_{running_loss,samples,reconstructions}.pdf   (report figures)
    report/methods_<study>.tex  report/study_<study>.tex (report methods)
    report/summary_<study>.tex                          (report tables)
    report/studies.tex  report/meta.tex  report/report.tex, *.aux, ...  (report build)
    report.pdf                                          (report build, copied atomically)

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


def study_files(study: str) -> dict[str, str]:
    """Paths, relative to ``results/<name>/``, of every report file of ``study``."""
    return {
        "csv": f"tables/{study}.csv",
        "table": f"tables/{study}.tex",
        "summary": f"report/summary_{study}.tex",
        "methods": f"report/methods_{study}.tex",
        "section": f"report/study_{study}.tex",
        "running_loss": f"figures/{study}_running_loss.pdf",
        "samples": f"figures/{study}_samples.pdf",
        "reconstructions": f"figures/{study}_reconstructions.pdf",
    }


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


def methods_paragraph(study: str, config: Mapping[str, Any], dataset: str, store_meta: Mapping[str, Any] | None,
                      published: bool = False) -> str:
    """The methods paragraph (LaTeX) of one study, from its resolved config.

    Args:
        study: study name (escaped in the output).
        config: the study's resolved config as recorded in ``run.json`` (keys ``architecture``,
            ``variants``, ``seeds``, ``model.{width,latent}``, ``train.{iterations, batch_size, lr,
            rmsprop_alpha, rmsprop_eps, eval_every, eval_images, eval_steps, eval_lr}``,
            ``evaluate.{images, steps, lr}``).
        dataset: dataset name.
        store_meta: the data store sidecar (``store.json``: ``shape`` = ``[N, C, H, W]``,
            ``split.train_count``, ``split.test_count``) or ``None`` to leave the sizes out.
        published: add the comparison note and the caveat about the authors' weight-norm bug.

    Returns:
        LaTeX source of one paragraph (str).

    Raises:
        KeyError: a required config key is missing (the message names it).
    """
    variants, seeds = list(_get(config, "variants")), list(_get(config, "seeds"))
    arch = escape_latex(str(config.get("architecture", "dcgan")).upper())
    model = config.get("model") or {}
    model_bits = [f"{name} {format_number(model[key])}" for key, name in
                  (("width", "base width"), ("latent", "latent dimension")) if key in model]
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
    text = [
        f"\\paragraph{{Methods.}} Study \\texttt{{{escape_latex(study)}}} trains a {arch} generator and "
        f"discriminator{' (' + ', '.join(model_bits) + ')' if model_bits else ''} on {data}, with "
        f"{len(variants)} normalization variant{'s' if len(variants) != 1 else ''} ({_list(variants, code=True)}) "
        f"and {len(seeds)} seed{'s' if len(seeds) != 1 else ''} ({_list(seeds)}), "
        f"{format_number(len(variants) * len(seeds))} runs in all.",
        f"Each run trains for {format_number(_get(config, 'train.iterations'))} iterations with batch size "
        f"{format_number(_get(config, 'train.batch_size'))}, using RMSProp with learning rate "
        f"{format_number(_get(config, 'train.lr'))}, $\\alpha$ = {format_number(_get(config, 'train.rmsprop_alpha'))}"
        f" and $\\epsilon$ = {format_number(_get(config, 'train.rmsprop_eps'))}.",
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
    if published:
        text.append(
            "The published numbers beside ours (Xiang \\& Li 2017, Table~2) come from CelebA at "
            "$160 \\times 160$ pixels trained for up to 700,000 iterations, another dataset and scale; they "
            "indicate the direction of the effect, not values these runs should match. "
            "The authors' own repository notes a bug in their weight-normalization gradient, so their "
            "exact numbers may not reproduce even at their scale.")
    return " ".join(text) + "\n"


def study_section(study: str, title: str) -> str:
    """The LaTeX section of one study: methods, table, summary and the three figures.

    Paths follow :func:`study_files`; they resolve through ``TEXINPUTS`` set by :func:`build_pdf`.
    """
    files = study_files(study)
    stem = lambda key: Path(files[key]).with_suffix("").as_posix()  # noqa: E731
    name = escape_latex(study)

    def figure(key: str, width: str, caption: str) -> str:
        return ("\\begin{figure}[htbp]\n\\centering\n"
                f"\\includegraphics[width={width}]{{{files[key]}}}\n"
                f"\\caption{{{caption}}}\n\\label{{fig:{study}-{key}}}\n\\end{{figure}}\n")

    return "".join([
        f"\\section{{{escape_latex(title)}}}\n\\label{{sec:{study}}}\n",
        f"\\input{{{Path(files['methods']).stem}}}\n\n",
        f"Table~\\ref{{tab:{study}}} lists the results per run and over seeds.\n\n",
        f"\\input{{{stem('table')}}}\n",
        f"\\input{{{Path(files['summary']).stem}}}\n\n",
        figure("running_loss", "0.75\\linewidth",
               f"Running reconstruction loss during training (study \\texttt{{{name}}}); one colour per variant, "
               "one thin line per seed; $\\times$ marks a diverged run's last logged value."),
        figure("samples", "\\linewidth",
               f"Samples from a fixed latent batch at the last saved iteration of each variant (first seed; study "
               f"\\texttt{{{name}}})."),
        figure("reconstructions", "\\linewidth",
               f"Reconstructions of test images (study \\texttt{{{name}}}): the first row shows the test images, "
               "each further row one variant's reconstructions from its best checkpoint (first seed)."),
        "\\clearpage\n",
    ])


def studies_index(studies: Sequence[str]) -> str:
    """``studies.tex``: one ``\\input{study_<name>}`` per study, in order."""
    return "".join(f"\\input{{{Path(study_files(s)['section']).stem}}}\n" for s in studies)


def meta_tex(run_name: str) -> str:
    """``meta.tex``: macros for the report title (``\\gannormrun`` = the config's ``name``)."""
    return f"\\newcommand{{\\gannormrun}}{{{escape_latex(run_name)}}}\n"


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def build_pdf(tex: str | os.PathLike, results_dir: str | os.PathLike, studies: Sequence[str],
              out_pdf: str | os.PathLike, run_name: str | None = None, log_lines: int = 60) -> Path:
    """Compile the report with latexmk and copy the PDF atomically to ``out_pdf``.

    Writes ``studies.tex``, ``meta.tex``, the provenance appendix ``provenance.tex`` (+ ``.csv``,
    :mod:`gannorm.report.provenance`) and a copy of ``tex`` into ``<results_dir>/report/``
    and runs ``latexmk -pdf -interaction=nonstopmode -halt-on-error`` there. The per-study
    files (:func:`study_files`) must exist.

    Args:
        tex: the report's LaTeX source (``paper/report.tex``); it ``\\input``s ``meta`` and ``studies``.
        results_dir: ``results/<name>``.
        studies: study names, in report order.
        out_pdf: where the PDF goes (normally ``results/<name>/report.pdf``).
        run_name: the config's ``name`` for the title; defaults to ``results_dir``'s folder name.
        log_lines: how many trailing lines of the LaTeX log to print on failure.

    Returns:
        ``Path(out_pdf)``.

    Raises:
        LatexError: latexmk is not installed (the message names the Debian packages), a per-study
            file is missing, or the build failed (the tail of the ``.log`` goes to stderr).
    """
    if shutil.which("latexmk") is None:
        raise LatexError(f"latexmk not found; install it, e.g. on Debian/Ubuntu: "
                         f"sudo apt-get install {LATEX_PACKAGES}")
    tex, results_dir = Path(tex).resolve(), Path(results_dir).resolve()
    build_dir = results_dir / "report"
    missing = [str(results_dir / rel) for s in studies for key, rel in study_files(s).items()
               if key != "csv" and not (results_dir / rel).exists()]
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
