"""MeLLo's decompose-retrieve-check loop (Zhong et al. 2023), bounded and run in lockstep over questions.

Each step the LM continues the transcript (few-shot MeLLo prompt + the question
+ what happened so far) up to `max_new_tokens`; the continuation is cut where
the model starts a `Retrieved fact:` line of its own. A `Final answer:` line
ends the question. Otherwise the last `Subquestion:` is used to retrieve the
nearest edited fact, which is appended as `Retrieved fact: ...`, and the model
decides in the next step whether it contradicts its tentative answer. After
`max_steps` steps without a final answer the question fails (answer ""), as in
the official implementation. The LM and the retriever are plain callables, so
the control flow is testable with scripted fakes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

FACT_PREFIX = "Retrieved fact:"
SUBQ_PREFIX = "Subquestion:"
FINAL_PREFIX = "Final answer:"
NO_FACT = "There is no edited fact."
_OWN_FACT = re.compile(r"(^|\n)\s*Retrieved fact:")
_NEW_EXAMPLE = re.compile(r"\n\s*Question:")
STOP_PATTERNS = (_OWN_FACT, _NEW_EXAMPLE)  # generation may stop here: parse_continuation cuts there anyway

Generate = Callable[[list[str]], list[str]]  # prompts -> continuations
Retrieve = Callable[[list[str]], list[str | None]]  # sub-questions -> fact sentences


@dataclass
class Step:
    """What one continuation contributed: the kept lines and either a sub-question or the final answer."""

    lines: list[str]
    subquestion: str | None = None
    final: str | None = None


@dataclass
class Trace:
    question: str
    transcript: str
    answer: str = ""
    done: bool = False
    steps: list[Step] = field(default_factory=list)


def parse_continuation(text: str) -> Step:
    """Cut a continuation at the model's own `Retrieved fact:` line or a new example, and read it."""
    for pattern in (_OWN_FACT, _NEW_EXAMPLE):
        match = pattern.search(text)
        if match:
            text = text[:match.start()]
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    for i, line in enumerate(lines):
        if line.startswith(FINAL_PREFIX):
            return Step(lines[:i + 1], final=line[len(FINAL_PREFIX):].strip())
    subqs = [i for i, line in enumerate(lines) if line.startswith(SUBQ_PREFIX)]
    if not subqs:
        return Step(lines)
    return Step(lines, subquestion=lines[subqs[-1]][len(SUBQ_PREFIX):].strip())


def shared_head(task_prompt: str) -> str:
    """The text every transcript starts with (its keys/values can be computed once)."""
    return f"{task_prompt.rstrip()}\n\nQuestion:"


def start_transcript(task_prompt: str, question: str) -> str:
    return f"{shared_head(task_prompt)} {question}\n"


def run_mello(questions: list[str], task_prompt: str, generate: Generate, retrieve: Retrieve,
              max_steps: int = 5) -> list[Trace]:
    """Answer every question with at most `max_steps` LM calls each (batched across questions)."""
    traces = [Trace(q, start_transcript(task_prompt, q)) for q in questions]
    for _ in range(max_steps):
        active = [t for t in traces if not t.done]
        if not active:
            break
        steps = [parse_continuation(c) for c in generate([t.transcript for t in active])]
        asking = [(t, s) for t, s in zip(active, steps) if s.final is None and s.subquestion]
        facts = retrieve([s.subquestion for _, s in asking]) if asking else []
        fact_of = {id(t): f for (t, _), f in zip(asking, facts)}
        for t, s in zip(active, steps):
            t.steps.append(s)
            t.transcript += "".join(line + "\n" for line in s.lines)
            if s.final is not None:
                t.answer, t.done = s.final, True
            elif s.subquestion is None:  # malformed: no sub-question to follow, the question fails
                t.done = True
            else:
                t.transcript += f"{FACT_PREFIX} {fact_of[id(t)] or NO_FACT}\n"
    return traces
