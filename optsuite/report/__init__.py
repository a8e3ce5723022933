"""Analysis and rendering of a results store: loading, statistics, tables, figures and the written report.

- :mod:`.results`: a store read for comparison (cells by problem, traces by cell);
- :mod:`.stats`: bootstrap intervals, paired tests, ranks; :mod:`.summary`: final-quality tables;
- :mod:`.anytime`, :mod:`.reach`, :mod:`.equalcost`, :mod:`.ert`: readings of the traces at a cost;
- :mod:`.tables` (one table model, five formats), :mod:`.figures`, :mod:`.noprop_figures`;
- :mod:`.builder`: the report folder (Markdown, HTML, tables, figures).

Nothing in the optimization core imports this package.
"""
