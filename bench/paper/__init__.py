"""The InstructEd paper study on top of the harness: its suites, table layouts, cross-model findings and the
analysis behind results/. Imports run one way: this package uses bench/ and editors/, the harness finds it only
through the entry points declared in pyproject.toml (`knowledge_edit_bench.suites`, `knowledge_edit_bench.tables`).
"""
