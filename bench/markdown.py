"""Markdown pipe tables: the one writer of their lines (report tables, the run summary, the API's DataFrames)."""

from __future__ import annotations


def pipe_table(head: list[str], rows: list[list[str]], rule: list[str] | None = None) -> list[str]:
    """The lines of a markdown pipe table: the header, the rule (`|---|---|` unless `rule` gives each column's,
    e.g. "---:" for right alignment) and the rows, cells as given."""
    rule_line = "|" + "---|" * len(head) if rule is None else "| " + " | ".join(rule) + " |"
    return ["| " + " | ".join(head) + " |", rule_line, *("| " + " | ".join(r) + " |" for r in rows)]
