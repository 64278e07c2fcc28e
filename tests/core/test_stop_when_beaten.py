"""`budget.stop_when_beaten`: trials that can no longer beat the best one end as `beaten`, and the
summary (steps to result, best trial, best parameters) is the same as without the option."""

import copy

import numpy as np

from beaten_workload import CONFIG

import tfbsz
from tfbsz.records import results




def run(tmp_path, stop_when_beaten):
    cfg = copy.deepcopy(CONFIG)
    cfg["budget"]["stop_when_beaten"] = stop_when_beaten
    out = tmp_path / f"stop_{stop_when_beaten}"
    summary = tfbsz.Study(cfg, output=out).run()
    return summary["batch_sizes"][0], results.load_study(out).batch_sizes[32].trials


def test_beaten_trials_stop_early_and_the_summary_is_unchanged(tmp_path):
    plain_row, plain = run(tmp_path, False)
    stopped_row, stopped = run(tmp_path, True)
    for key in ("steps_to_result", "best_trial", "best_parameters", "trials"):
        assert stopped_row[key] == plain_row[key], key
    assert plain_row["beaten"] == 0
    assert stopped_row["beaten"] >= 1
    assert stopped_row["beaten"] + stopped_row["reached"] + stopped_row["missed"] + stopped_row["diverged"] == 4
    best = (plain_row["steps_to_result"], plain_row["best_trial"])
    for alone, early in zip(plain, stopped):
        assert alone.trial_id == early.trial_id and alone.parameters == early.parameters
        if early.outcome != "beaten":
            assert early.outcome == alone.outcome and early.steps == alone.steps
            continue
        assert early.status == results.STATUS_COMPLETE
        # it stopped at an evaluation after which it could only reach the target later than the best trial
        assert early.steps < alone.steps and (early.steps + CONFIG["eval_every"], early.trial_id) > best
        # what it measured until then is what the same trial measured without the option
        assert [r["step"] for r in early.measurements] == [r["step"] for r in alone.measurements[:len(early.measurements)]]
        np.testing.assert_allclose(early.column("val/classification_error"),
                                   alone.column("val/classification_error")[:len(early.measurements)], rtol=1e-5)
