"""Fast checks of the evidence scripts' scoring (scripts/eval_finder*.py are not a package)."""

import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "scripts"))

import eval_finder  # noqa: E402
import eval_finder_tables  # noqa: E402

INFO = {"lrs": [1e-3, 1e-2, 1e-1, 1.0], "curve": [2.0, 1.0, 1.5, 1e30], "loss": 1.0}


def test_regret_interpolates_in_log_rate_and_flags_unstable_neighbours():
    assert eval_finder.regret(INFO, 1e-2) == 0.0
    assert math.isclose(eval_finder.regret(INFO, math.sqrt(1e-3 * 1e-2)), 0.5, rel_tol=1e-9)
    assert eval_finder.regret(INFO, 1e-5) == 1.0                  # below the grid: edge value
    assert math.isinf(eval_finder.regret(INFO, 0.3))              # next to a diverged rate
    assert math.isinf(eval_finder.regret(INFO, 10.0))
    assert math.isinf(eval_finder.regret(INFO, math.nan))


def test_tables_count_within_2x_and_replicates():
    ok = eval_finder_tables.within_2x(np.array([0.5, 2.0, 2.1, 0.49, np.nan, np.inf]))
    assert ok.tolist() == [True, True, False, False, False, False]
    info = dict(INFO, replicate_ratios=[1.0, 3.0], replicate_excess=[0.0, 0.2])
    rows = [{"case": "a", "optimum": 1e-2, "r": 1.5e-2, "optimum_info": {"final": info}},
            {"case": "a", "optimum": 1e-2, "r": 0.2, "optimum_info": {"final": info}}]
    ratios, excess = eval_finder_tables.measures(rows, "r", "optimum", "final")
    np.testing.assert_allclose(ratios, [1.5, 20.0])
    assert excess[0] > 0 and math.isfinite(excess[0]) and math.isinf(excess[1])
    ratios, excess = eval_finder_tables.measures(rows, "replicate", "optimum", "final")
    assert ratios.tolist() == [1.0, 3.0] and excess.tolist() == [0.0, 0.2]
