"""Merges the JSON outputs of ``scripts/eval_finder.py`` runs into the README's evidence tables.

Run the six settings, then merge::

    python scripts/eval_finder.py --seeds 6 --json const100.json
    python scripts/eval_finder.py --steps 200 --horizon 1500 --first-seed 3 --seeds 3 \\
        --json const200.json
    python scripts/eval_finder.py --seeds 6 --held-out --json ho_const100.json
    # the same three with --schedule cosine: cos100.json, cos200.json, ho_cos100.json
    python scripts/eval_finder_tables.py --dir .

Prints, for the two targets, the fraction of cases within 2x per setting and over all cases
(with the loss-within-1%, long-run-divergence and median-excess measures), then the per-case
ratios suggestion / optimum of the 100-update settings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eval_finder import regret, within_2x  # noqa: E402

SETTINGS = [("const100", "constant, 100-upd. finders"), ("const200", "constant, 200"),
            ("ho_const100", "held-out, constant, 100"), ("cos100", "cosine, 100"),
            ("cos200", "cosine, 200"), ("ho_cos100", "held-out, cosine, 100")]
RULES = [
    ("parallel/horizon", "**parallel `horizon`** (default with `target_steps`)"),
    ("parallel/best_final", "**parallel `best_final`** (default without)"),
    ("parallel/horizon_measured_slope_only",
     "parallel `horizon`, measured slope only (`[-1, 0]`)"),
    ("parallel/best_final_argmin", "parallel `best_final`, argmin only"),
    ("parallel/minimum_div_10", "parallel `minimum_div_10`"),
    ("range/steepest", "**range test `steepest`** (range-test default)"),
    ("range/steepest_nolag", "range `steepest`, no lag correction"),
    ("range/valley_nolag", "range `valley`, no lag correction (= fastai)"),
    ("torch-lr-finder/steepest", "torch-lr-finder steepest"),
    ("replicate", "*replicate grid search* (3 fresh seeds, 1500 updates, 33 rates) vs the "
                  "other 6 seeds"),
]
TARGETS = [("optimum", "final", "validation loss at the end of the run"),
           ("optimum_best", "best", "best validation loss along the run")]


def measures(rows, rule, target, info_key):
    """(ratios suggestion/optimum, relative excess losses) of one rule over ``rows``."""
    if rule == "replicate":
        seen = {row["case"]: row["optimum_info"][info_key] for row in rows}
        ratios = [v for s in seen.values() for v in s["replicate_ratios"]]
        excess = [v for s in seen.values() for v in s["replicate_excess"]]
        return np.array(ratios), np.array(excess)
    ratios = np.array([row[rule] / row[target] for row in rows])
    excess = np.array([regret(row["optimum_info"][info_key], row[rule]) for row in rows])
    return ratios, excess


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=".", help="folder with the six JSON files")
    args = ap.parse_args(argv)
    runs = {name: json.load(open(os.path.join(args.dir, name + ".json")))["rows"]
            for name, _ in SETTINGS}
    for target, info_key, title in TARGETS:
        print(f"\nTarget: {title}.\n")
        print("| rule | " + " | ".join(f"{label} ({len(runs[n])})" for n, label in SETTINGS)
              + " | all: within 2x | loss within 1% | long-run diverges | median excess |")
        print("|---|" + "---|" * (len(SETTINGS) + 4))
        for rule, label in RULES:
            cells, ok_all, exc_all, fin_all = [], [], [], []
            for name, _ in SETTINGS:
                ratios, excess = measures(runs[name], rule, target, info_key)
                ok = within_2x(ratios)
                cells.append(f"{ok.mean():.0%}")
                ok_all += ok.tolist()
                exc_all += excess.tolist()
                fin_all += np.isfinite(ratios).tolist()
            exc = np.array(exc_all)
            med = float(np.median(exc))
            print(f"| {label} | " + " | ".join(cells)
                  + f" | {np.mean(ok_all):.0%} ({sum(ok_all)}/{len(ok_all)})"
                  f" | {np.mean(exc <= 0.01):.0%}"
                  f" | {np.mean(np.isinf(exc) & np.array(fin_all)):.0%}"
                  f" | {f'{med:.1%}' if np.isfinite(med) else 'diverges'} |")
    for name, label in SETTINGS:
        if not name.endswith("100"):
            continue
        rows = runs[name]
        cases = list(dict.fromkeys(row["case"] for row in rows))
        print(f"\n{label}: suggestion / optimum per finder seed (final target)\n")
        print("| rule | " + " | ".join(cases) + " |")
        print("|---|" + "---|" * len(cases))
        for rule, rlabel in RULES:
            per = []
            for c in cases:
                sub = [row for row in rows if row["case"] == c]
                ratios, _ = measures(sub, rule, "optimum", "final")
                per.append(" ".join(f"{v:.2g}" for v in ratios))
            print(f"| {rlabel} | " + " | ".join(per) + " |")
        print("\nGrid optima (final / best): " + "; ".join(
            f"{c} {next(r for r in rows if r['case'] == c)['optimum']:.2g} / "
            f"{next(r for r in rows if r['case'] == c)['optimum_best']:.2g}" for c in cases))


if __name__ == "__main__":
    main()
