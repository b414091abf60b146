"""Speed of the locate-and-edit baselines: seconds per edit, value-optimisation share, statistics cost.

Creates each editor twice: the first creation builds (or, on a second run of
the script, loads) the key statistics of its layers, the second must load them
in near-zero time. Then edits `--cases` CounterFact cases one at a time with
each method.

    python -m editors.locate.perf_speed --model smollm2-135m --cases 3 --threads 1
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import torch

from bench.data import load_dataset
from bench.models import load_model
from bench.registry import get_editor_class


def build_editors(lm, names: list[str]) -> tuple[list, list[str]]:
    """Create each editor twice: the first creation builds (or loads) its statistics, the second loads them."""
    editors, lines = [], []
    for name in names:
        cls = get_editor_class(name)
        t0 = time.perf_counter()
        editor = cls(lm)
        t_first = time.perf_counter() - t0
        if editor.config.mom2_adjustment:
            t0 = time.perf_counter()
            cls(lm)
            t_second = time.perf_counter() - t0
            info = editor._moments.info
            built = [i for i in info.values() if not i["from_cache"]]
            spec = editor.stats_spec
            what = (f"built in {sum(i['seconds'] for i in built):.2f}s ({built[0]['seconds']:.2f}s per layer, "
                    f"{built[0]['count']} token vectors)" if built else "all loaded from cache")
            lines.append(f"{name}: statistics of {len(info)} layer(s), corpus={spec.corpus} n={spec.n_samples} "
                         f"{spec.dtype}: {what}; creating the editor took {t_first:.2f}s, again (cached) "
                         f"{t_second:.3f}s")
        else:
            lines.append(f"{name}: no statistics (mom2_adjustment=false: C = I)")
        editors.append(editor)
    return editors, lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--methods", default="rome,memit,pmet")
    parser.add_argument("--dataset", default="counterfact")
    parser.add_argument("--cases", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--fresh-stats", action="store_true",
                        help="build the statistics into an empty temporary cache (load the model first)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    lm = load_model(args.model, device="cpu")
    cases = load_dataset(args.dataset, limit=args.cases)
    with tempfile.TemporaryDirectory() as tmp:
        if args.fresh_stats:
            os.environ["BENCH_CACHE_DIR"] = tmp  # statistics go to cache_root() / "stats"
        editors, lines = build_editors(lm, args.methods.split(","))
    for line in lines:
        print(line, flush=True)
    print(f"model={args.model} cases={len(cases)} threads={torch.get_num_threads()} (single protocol, CPU)")
    print("s/edit and the value-optimisation share leave out the one-off context sampling "
          "(statistics are made when an editor is created, above)")
    print(f"{'method':8s} {'s/edit':>8s} {'value-opt share':>16s} {'mean steps':>11s} {'stats s':>8s} "
          f"{'contexts s':>11s}")
    for editor in editors:
        for case in cases:
            editor.edit([case])
            editor.reset()
        t = editor.timings
        per_edit = t.total - t.contexts
        print(f"{editor.name:8s} {per_edit / t.edits:8.2f} {t.values / per_edit:16.2f} "
              f"{sum(t.steps) / max(len(t.steps), 1):11.1f} {t.stats:8.3f} {t.contexts:11.2f}", flush=True)


if __name__ == "__main__":
    main()
