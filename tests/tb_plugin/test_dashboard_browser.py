"""End to end: a real `tensorboard` process on loopback, the dashboard read in headless Chromium.

The screenshot is kept as a test artefact in test-artifacts/dashboard.png (gitignored).
"""

import os

import pytest

from tb_plugin.browser_check import browser_available, browser_check
from tb_plugin.fixtures import BATCH_SIZES, write_fixture_study

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCREENSHOT = os.path.join(ROOT, "test-artifacts", "dashboard.png")

_available, _reason = browser_available()


@pytest.mark.browser
@pytest.mark.skipif(not _available, reason=_reason)
def test_dashboard_shows_each_studys_batch_sizes_in_chart_and_table(tmp_path):
    write_fixture_study(tmp_path / "sgd", optimizer="sgd", b_crit=60.0, s_min=150.0, lr_exponent=0.3)
    write_fixture_study(tmp_path / "momentum", optimizer="momentum", b_crit=300.0, s_min=80.0)
    if os.path.exists(SCREENSHOT):
        os.remove(SCREENSHOT)

    snapshot = browser_check(tmp_path, SCREENSHOT)

    assert snapshot["plugins_listing"]["tab_name"] == "Steps to target"
    assert snapshot["errors"] == []
    assert snapshot["runs"] == ["momentum", "sgd"]
    expected = {"momentum": list(BATCH_SIZES), "sgd": list(BATCH_SIZES)}
    assert snapshot["chart_batch_sizes"] == expected
    assert snapshot["table_batch_sizes"] == expected
    assert snapshot["trial_rows"] == 4 * len(BATCH_SIZES)  # the first study's trials
    assert {"16", "64", "256", "1024"} <= set(snapshot["x_tick_labels"])
    assert snapshot["axis_labels"] == ["Batch size", "Steps to result"]
    assert all("B_crit" in card for card in snapshot["fit_cards"])
    assert os.path.getsize(SCREENSHOT) > 20_000
