"""Which editors' rankings change once answers are generated (results/README.md, "Generated answers"): per dataset,
every editor ranked by a teacher-forced metric and by its generated twin on the same cases, Kendall's tau between
the two orders, and for every pair of editors whose order flips the paired difference under each scoring (same
cases, 1000 bootstrap resamples, seed 0, 95% intervals).

A flip counts as real only where both intervals exclude 0 (a beats b teacher-forced and b beats a generated);
otherwise at least one of the two orders is within noise and the page says so.

    python -m bench.paper.analysis.generation_ranking [--folder generation-gemma3]
writes results/FOLDER/ranking.txt (default folder: generation-smollm2).
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

from bench.metrics import CaseMetrics, aggregate, paired_bootstrap
from bench.paper.analysis import results_parser, write_report
from bench.runlog import read_per_case
from bench.tables import is_reference

FOLDER = "generation-smollm2"
DATASETS = ("counterfact", "zsre")
RANKED_BY = (("H", "H_gen"), ("Rel", "Rel_gen"))  # (teacher-forced, generated): what the rankings order by


def kendall_tau(first: list[str], second: list[str]) -> float:
    """Kendall's tau-a of two orders of the same items (1: the same order, -1: reversed)."""
    pos = {item: i for i, item in enumerate(second)}
    pairs = list(combinations(first, 2))
    if not pairs:
        return 1.0
    concordant = sum(1 if pos[a] < pos[b] else -1 for a, b in pairs)
    return concordant / len(pairs)


def ranking(values: dict[str, dict], metric: str) -> list[str]:
    """Editors by `metric` of their aggregate `values` (highest first; ties by name), those without it left out."""
    return sorted((e for e, v in values.items() if v.get(metric) is not None), key=lambda e: (-values[e][metric], e))


def _interval(got: tuple[float, float, float] | None) -> str:
    return "n/a" if got is None else f"{got[0]:+.1f} [{got[1]:+.1f}, {got[2]:+.1f}]"


def _side(got: tuple[float, float, float] | None) -> int:
    """+1 / -1 where the interval excludes 0 on that side, 0 where it holds 0."""
    if got is None:
        return 0
    return 1 if got[1] > 0 else -1 if got[2] < 0 else 0


def flips(runs: dict[str, list[CaseMetrics]], order_tf: list[str], order_gen: list[str], tf: str,
          gen: str) -> list[str]:
    """One line per pair of editors whose order by `tf` (`order_tf`) differs from their order by `gen`."""
    pos_gen = {e: i for i, e in enumerate(order_gen)}
    lines = []
    for a, b in combinations(order_tf, 2):  # a ahead of b teacher-forced
        if a not in pos_gen or b not in pos_gen or pos_gen[a] < pos_gen[b]:
            continue
        by_tf, by_gen = paired_bootstrap(runs[a], runs[b], tf), paired_bootstrap(runs[a], runs[b], gen)
        real = _side(by_tf) == 1 and _side(by_gen) == -1
        verdict = "real flip (both intervals exclude 0)" if real else "within noise on at least one side"
        lines.append(f"  {a} - {b}: {tf} {_interval(by_tf)}; {gen} {_interval(by_gen)}; {verdict}")
    return lines


def dataset_lines(runs: dict[str, list[CaseMetrics]], dataset: str) -> list[str]:
    ranked = {e: cases for e, cases in runs.items() if not is_reference(e)}
    values = {e: aggregate(cases) for e, cases in ranked.items()}
    sizes = sorted({len(c) for c in ranked.values()}) or [0]
    span = str(sizes[0]) if len(sizes) == 1 else f"{sizes[0]} to {sizes[-1]}"
    lines = [f"# {dataset}: {len(ranked)} editors (the unedited model not ranked), {span} cases each"]
    for tf, gen in RANKED_BY:
        order_tf, order_gen = ranking(values, tf), ranking(values, gen)
        shared = [e for e in order_tf if e in order_gen]
        rank_gen = {e: i + 1 for i, e in enumerate(order_gen)}
        lines.append(f"## by {tf} (teacher-forced) and {gen} (generated); Kendall tau "
                     f"{kendall_tau(shared, [e for e in order_gen if e in shared]):+.2f}")
        for i, editor in enumerate(order_tf):
            got = values[editor].get(gen)
            lines.append(f"  {i + 1:>2} -> {rank_gen.get(editor, '-'):>2}  {editor}: {tf} {values[editor][tf]:.1f}, "
                         f"{gen} {'n/a' if got is None else f'{got:.1f}'}")
        changed = flips(ranked, order_tf, order_gen, tf, gen)
        lines += [f"## pairs whose order by {tf} and by {gen} differ ({len(changed)})", *changed]
    return lines


def ranking_lines(folder: Path) -> list[str]:
    lines = [f"# Rankings teacher-forced vs generated, {folder.name} (a - b: paired on the same cases)"]
    for dataset in DATASETS:
        path = folder / dataset / "per_case.csv"
        if not path.exists():
            lines.append(f"# {dataset}: missing ({path} not there yet)")
            continue
        runs = {editor: cases for (editor, protocol), cases in read_per_case(path).items() if protocol == "single"}
        lines += dataset_lines(runs, dataset)
    return lines


def main(argv: list[str] | None = None) -> Path:
    parser = results_parser(__doc__, f"{FOLDER}/ranking.txt")
    parser.add_argument("--folder", default=FOLDER, help="the generation runs' folder below --results")
    args = parser.parse_args(argv)
    folder = args.results / args.folder
    return write_report(ranking_lines(folder), args.out or folder / "ranking.txt")


if __name__ == "__main__":
    main()
