"""The report's fit-residuals line judges the residuals against the points' own search-luck spread.

It used to say "far above the points' search-luck spread, the curve is not of McCandlish et al.'s
shape" whatever the numbers (the default study's 5% residuals under 20-30% intervals included).
"""

import math
from types import SimpleNamespace

from tfbsz.report import _residual_verdict


def _analysis(residual_std, intervals):
    rows = [{"steps": 100, "steps_low": low, "steps_high": high} for low, high in intervals]
    return SimpleNamespace(fit=SimpleNamespace(residual_std=residual_std), intervals=SimpleNamespace(confidence=0.9),
                           reached=rows)


def test_residuals_inside_the_search_luck_spread_are_not_called_far_above():
    wide = [(70, 150)] * 5  # half-width 0.38 in log steps: spread about 23% as a standard deviation
    verdict = _residual_verdict(_analysis(0.05, wide))
    assert "within the points' search-luck spread" in verdict and "not of McCandlish" not in verdict


def test_residuals_far_above_the_spread_say_the_shape_does_not_fit():
    narrow = [(95, 105)] * 5  # spread about 3%
    verdict = _residual_verdict(_analysis(0.2, narrow))
    assert "far above the points' search-luck spread (about 3" in verdict
    assert "not of McCandlish et al.'s shape" in verdict


def test_no_finite_interval_gives_no_verdict():
    assert _residual_verdict(_analysis(0.1, [(50, math.inf)])) == ""
