"""Report stage, generic over studies (no module here knows an architecture or a paper).

:mod:`~gannorm.report.runs` (run folders as records; the quantities tables and claims compare),
:mod:`~gannorm.report.claims` (every claim as a statistical test), :mod:`~gannorm.report.tables`
(pandas -> CSV + LaTeX), :mod:`~gannorm.report.figures` (matplotlib PDFs), :mod:`~gannorm.report.latex`
(one study's section, the latexmk build), :mod:`~gannorm.report.provenance` (the appendix),
:mod:`~gannorm.report.text` (escaping, number formats) and :mod:`~gannorm.report.cli`
(``python -m gannorm report study|build``). What each study shows is declared in :mod:`gannorm.studies`.
"""
