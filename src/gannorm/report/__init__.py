"""Report stage: tables (pandas -> CSV + LaTeX), figures (matplotlib PDF), LaTeX build.

Submodules: :mod:`~gannorm.report.tables` (aggregate run folders), :mod:`~gannorm.report.figures`
(running loss, samples, reconstructions), :mod:`~gannorm.report.latex` (methods text, sections,
latexmk build) and :mod:`~gannorm.report.cli` (``python -m gannorm report <subcommand>``).
"""
