"""Analysis and rendering of a results store: loading, statistics, tables, figures and the written report.

- :mod:`.results`: a store read for comparison (cells by problem, traces by cell);
- :mod:`.stats`: bootstrap intervals, paired tests, Holm, ranks; :mod:`.summary`: final-quality tables;
  :mod:`.headline` (with :mod:`.labels`), :mod:`.networks`: the headline tables;
- :mod:`.compact`, :mod:`.terminal`: what the commands print, folded to the terminal's width;
- :mod:`.crossproblem` (Friedman, Nemenyi), :mod:`.profile` (performance profiles), :mod:`.significance`:
  across problems;
- :mod:`.anytime`, :mod:`.reach`, :mod:`.equalcost`, :mod:`.ert`: readings of the traces at a cost;
- :mod:`.tables` (one table model, five formats), :mod:`.figures`, :mod:`.crossfigures`, :mod:`.noprop_figures`;
- :mod:`.builder`: the report folder (Markdown, tables, figures) and :mod:`.html`, its one-file page;
- :mod:`.export`: the store in COCO's, IOHprofiler's and long CSV formats.

Nothing in the optimization core imports this package.
"""
