"""The analyses behind results/' pages, one module each (`python -m bench.paper.analysis.NAME`), writing into the
results folder they explain."""
