"""Report stage: tables (pandas -> CSV + LaTeX), figures (matplotlib PDF), summaries, LaTeX build.

Submodules: :mod:`~gannorm.report.kinds` (which tables and figures a study gets, by architecture),
:mod:`~gannorm.report.tables` (aggregate run folders: reconstruction, super-resolution, steep-drop
and W1 tables), :mod:`~gannorm.report.curves` (running means, the critic loss's steep drop,
snapshots), :mod:`~gannorm.report.figures` (curves, samples, reconstructions, histograms),
:mod:`~gannorm.report.papers` (each paper's question, published numbers and claims),
:mod:`~gannorm.report.verdicts` (computed verdicts on those claims), :mod:`~gannorm.report.summary`,
:mod:`~gannorm.report.latex` (methods text, sections, latexmk build), :mod:`~gannorm.report.provenance`,
:mod:`~gannorm.report.toy2d` (the 2-D toy study, its own module) and :mod:`~gannorm.report.cli`
(``python -m gannorm report <subcommand>``).
"""
