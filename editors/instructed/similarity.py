"""How well does the encoder's similarity separate a case's own questions from its locality prompts?

Eq. 15 scales the instruction's attention scores by sim(instruction, question). If
the sims of in-scope questions (Rel, Gen, Por_hop) and of locality prompts overlap,
re-weighting cannot stop a gold instruction from leaking into unrelated prompts,
which is what InstructEd's low gold-mode Loc on SmolLM2 suggests. This prints the
distribution per query kind and the best single threshold's accuracy.

    python -m editors.instructed.similarity --dataset counterfact --limit 200 [--plot sims.png]
"""

from __future__ import annotations

import argparse

import numpy as np

from bench.data import load_dataset
from bench.encoder import DEFAULT_ENCODER, SentenceEncoder
from editors.instructed.instructions import case_instruction

IN_SCOPE = ("rel", "gen", "por_hop")


def similarities(cases, encoder) -> dict[str, list[float]]:
    """Query kind -> cosine similarity of each query of that kind with its case's gold instruction."""
    pairs = [(case_instruction(c), q.kind, q.prompt) for c in cases for q in c.queries]
    texts = sorted({t for ins, _, p in pairs for t in (ins, p)})
    emb = dict(zip(texts, encoder.encode(texts)))
    out: dict[str, list[float]] = {}
    for ins, kind, prompt in pairs:
        out.setdefault(kind, []).append(float(emb[ins] @ emb[prompt]))
    return out


def best_threshold(inside: list[float], outside: list[float]) -> tuple[float, float]:
    """(threshold, accuracy) of the best rule 'in scope iff sim >= threshold' (balanced accuracy)."""
    best = (0.0, 0.0)
    for t in sorted(set(inside) | set(outside)):
        acc = 0.5 * (np.mean(np.array(inside) >= t) + np.mean(np.array(outside) < t))
        best = max(best, (float(acc), t))
    return best[1], best[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="counterfact")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--encoder", default=DEFAULT_ENCODER)
    parser.add_argument("--plot", default=None, help="write a histogram PNG here")
    args = parser.parse_args(argv)
    sims = similarities(load_dataset(args.dataset, args.data_dir, args.limit), SentenceEncoder(args.encoder))
    print(f"{args.dataset}, {args.limit} cases, encoder {args.encoder}: cosine(instruction, query)")
    print(f"{'kind':8s} {'n':>5s} {'mean':>6s} {'p10':>6s} {'p50':>6s} {'p90':>6s}")
    for kind, values in sims.items():
        p10, p50, p90 = np.percentile(values, [10, 50, 90])
        print(f"{kind:8s} {len(values):5d} {np.mean(values):6.3f} {p10:6.3f} {p50:6.3f} {p90:6.3f}")
    inside = [v for k in IN_SCOPE for v in sims.get(k, [])]
    if inside and sims.get("loc"):
        t, acc = best_threshold(inside, sims["loc"])
        print(f"best threshold separating in-scope ({'/'.join(IN_SCOPE)}) from loc: {t:.3f}, balanced accuracy "
              f"{100 * acc:.1f}%")
    if args.plot:
        _plot(sims, args)


def _plot(sims: dict[str, list[float]], args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for kind, values in sims.items():
        ax.hist(values, bins=30, range=(-0.2, 1.0), alpha=0.5, label=kind)
    ax.set_xlabel("cosine(instruction, query)")
    ax.set_ylabel("queries")
    ax.set_title(f"{args.dataset}: {args.encoder}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.plot, dpi=110)


if __name__ == "__main__":
    main()
