"""bench/reproduce.py and bench/reproduction_claims.py (issue 12): every cell's config is valid at
every scale, a tiny cell runs on the CPU without TensorFlow (as on the GPU machine) and keeps its
summary and timings, and the claims script gives every claim a verdict, deciding the ones that
synthetic data make decidable."""

import json
import os
import subprocess
import sys

import pytest

from helpers import ROOT, load_script, subprocess_env

sys.path.insert(0, os.path.join(ROOT, "tests", "analysis"))

from synthetic_studies import write_synthetic_tree  # noqa: E402

reproduce = load_script("bench/reproduce.py", "reproduce")
claims = load_script("bench/reproduction_claims.py", "reproduction_claims")

from tfbsz.core.config import load_config  # noqa: E402

VERDICTS = {claims.HOLDS, claims.FAILS, claims.UNDECIDED}

RUN_WITHOUT_TENSORFLOW = """
import runpy, sys
sys.modules["tensorflow"] = None  # as on the GPU machine: importing it must not be needed
sys.argv = ["bench/reproduce.py"] + sys.argv[1:]
runpy.run_path("bench/reproduce.py", run_name="__main__")
"""


@pytest.mark.parametrize("scale", sorted(reproduce.SCALES))
def test_every_cell_of_every_scale_is_a_valid_config(scale, tmp_path):
    assert set(reproduce.SCALES[scale]["parts"]) == set(reproduce.PARTS)  # every part at every scale
    for part, batch_size, max_steps in reproduce.plan_cells(scale):
        spec = reproduce.PARTS[part]
        if "noise_of" in spec:  # a noise cell needs its tuned part's best trial
            reproduce.write_json(tmp_path / spec["noise_of"] / "summary.json", {"batch_sizes": [
                {"batch_size": batch_size, "steps_to_result": 10,
                 "best_parameters": {"optimizer.learning_rate": 0.01}}]})
        sets = reproduce.cell_overrides(part, batch_size, max_steps, scale, 4, tmp_path)
        cfg = load_config(os.path.join(reproduce.CONFIGS, spec["config"]), sets)
        assert cfg["batch_sizes"] == [batch_size] and cfg["budget"]["max_steps"] == max_steps >= 1
        assert cfg["output"].endswith(os.path.join(part, f"b{batch_size}"))
        if "noise_of" in spec:
            assert cfg["noise_scale"]["enabled"] and cfg["search"]["space"] == {}
        else:
            assert cfg["search"]["parallel_trials"] == cfg["search"]["trials"] == 4


def test_a_cell_s_budget_comes_from_smaller_batch_sizes_measured_or_an_earlier_run(tmp_path):
    rows = [{"batch_size": 256, "steps_to_result": 208, "max_steps": 1069},
            {"batch_size": 512, "steps_to_result": 250, "max_steps": 985},
            {"batch_size": 1024, "steps_to_result": None, "max_steps": 624}]
    reproduce.write_json(tmp_path / "lm_adam" / "summary.json", {"batch_sizes": rows})
    budget = reproduce.cell_budget
    assert budget(tmp_path, "lm_adam", 4096, 911) == 624  # 3 x 208, the fewest steps at a smaller size
    assert budget(tmp_path, "lm_adam", 256, 1069) == 1069  # nothing smaller measured: the guess
    assert budget(tmp_path, "lm_adam", 4096, 500) == 500  # never above the guess
    assert budget(tmp_path, "lm_adam", 4096, 911, {"max_steps": 911, "status": "interrupted"}) == 911
    assert budget(tmp_path, "lm_lamb", 4096, 911) == 911  # another part's measurements do not count
    assert budget(tmp_path, "noise_lm_adam", 512, 700) == 985  # a noise cell: its tuned part's budget
    assert budget(tmp_path, "noise_lm_adam", 64, 700) == 700


def test_merging_workers_keeps_each_part_s_own_cells_not_their_stale_copies(tmp_path):
    stale = {"status": "not started (deadline)"}
    reproduce.write_json(tmp_path / "timings.json", {"cells": {"a/b8": stale, "b/b8": stale}})
    reproduce.write_json(tmp_path / "timings_a.json", {"backend": "jax", "cells": {
        "a/b8": {"status": "done", "wall_s": 3.0}, "b/b8": stale}, "parts": {"a": {"wall_s": 3.0}}})
    reproduce.write_json(tmp_path / "timings_b.json", {"cells": {
        "a/b8": stale, "b/b8": {"status": "done", "wall_s": 5.0}}, "parts": {"b": {"wall_s": 5.0}}})
    merged = reproduce.merge_worker_timings(tmp_path, {"a": [8], "b": [8, 16]})
    assert merged["cells"]["a/b8"]["status"] == merged["cells"]["b/b8"]["status"] == "done"
    assert merged["cells"]["b/b16"] == stale and merged["total_s"] == 8.0
    assert merged["parts"] == {"a": {"wall_s": 3.0}, "b": {"wall_s": 5.0}}


def test_redo_edges_finds_widenable_edges_takes_noise_cells_along_and_keeps_the_old_run(tmp_path):
    # configs/reproduction/cnn_nesterov.yaml searches momentum in [0, 0.999] and the learning rate
    # in [1e-4, 1]; the cells below searched narrower ranges, or the same
    def space(momentum_min, lr_max):
        return {"optimizer.learning_rate": {"type": "DOUBLE", "min_value": 1e-4, "max_value": lr_max,
                                            "scale": "LOG_SCALE"},
                "optimizer.momentum": {"type": "DOUBLE", "min_value": momentum_min, "max_value": 0.999,
                                       "scale": "REVERSE_LOG_SCALE"}}
    cells = {8: (space(0.5, 1.0), {"optimizer.learning_rate": 0.01, "optimizer.momentum": 0.51}),  # widened since
             32: (space(0.0, 1.0), {"optimizer.learning_rate": 0.01, "optimizer.momentum": 0.01}),  # at its limit
             128: (space(0.0, 1.0), {"optimizer.learning_rate": 0.9, "optimizer.momentum": 0.9}),   # edge, not widened
             512: (space(0.0, 1.0), {"optimizer.learning_rate": 0.01, "optimizer.momentum": 0.9})}  # no edge
    for batch_size, (searched, parameters) in cells.items():
        root = tmp_path / "cnn_nesterov" / f"b{batch_size}"
        reproduce.write_json(root / "summary.json", {"batch_sizes": [{"batch_size": batch_size,
                                                                      "best_parameters": parameters}]})
        reproduce.write_json(root / "mnist5k" / "simple_cnn" / "nesterov" / str(batch_size) / "study.json",
                             {"parameter_configs": searched})
    reproduce.write_json(tmp_path / "cnn_nesterov" / "summary.json", {"batch_sizes": [
        {"batch_size": b, "max_steps": 99} for b in cells]})
    reproduce.write_json(tmp_path / "timings.json", {"cells": {
        "cnn_nesterov/b8": {"status": "done", "max_steps": 99},
        "cnn_nesterov/b32": {"status": "not started (deadline)", "max_steps": 870}}})
    plan = reproduce.plan_cells("gpu20", ["cnn_nesterov", "noise_cnn_nesterov"], list(cells))
    assert reproduce.edge_cells(tmp_path, plan) == ["cnn_nesterov/b8"]
    cells = reproduce.redo_cells(tmp_path, plan, ["edges"])
    assert cells == ["cnn_nesterov/b8", "noise_cnn_nesterov/b8"]
    assert "not among the cells" in reproduce.redo_cells(tmp_path, plan, ["cnn_adam/b8"])
    reproduce.supersede(tmp_path, "cnn_nesterov/b8")
    assert not (tmp_path / "cnn_nesterov" / "b8").exists()
    assert (tmp_path / "superseded" / "cnn_nesterov" / "b8.1" / "summary.json").exists()
    timings = reproduce.read_json(tmp_path / "timings.json")["cells"]
    cell = timings["cnn_nesterov/b8"]
    assert cell["status"].startswith("to run again") and cell["max_steps"] == 99
    assert reproduce.cell_budget(tmp_path, "cnn_nesterov", 8, 3120, cell) == 99  # the same budget as before
    summary = reproduce.read_json(tmp_path / "cnn_nesterov" / "summary.json")
    assert [r["batch_size"] for r in summary["batch_sizes"]] == [32, 128, 512]  # the moved run is gone
    # a cell that never ran (deadline) gets a budget from the measurements, not the guess it was listed with
    assert reproduce.cell_budget(tmp_path, "cnn_nesterov", 32, 870, timings["cnn_nesterov/b32"]) == 870
    reproduce.write_json(tmp_path / "cnn_nesterov" / "summary.json", {"batch_sizes": [
        {"batch_size": 16, "steps_to_result": 100}]})
    assert reproduce.cell_budget(tmp_path, "cnn_nesterov", 32, 870, timings["cnn_nesterov/b32"]) == 300


def test_gpu10_plan_fits_the_lead_s_budget_and_starts_with_lm_adam():
    plan = reproduce.plan_cells("gpu10")
    assert plan[0][0] == "lm_adam"
    first_four = list(dict.fromkeys(p for p, _, _ in plan))[:4]
    assert first_four == ["lm_adam", "lm_nesterov", "cnn_nesterov", "cnn_adam"]
    assert reproduce.SCALES["gpu10"]["deadline_s"] < 560
    # budgets follow the guessed curve: more steps at smaller batch sizes
    budgets = [s for p, _, s in plan if p == "cnn_nesterov"]
    assert budgets == sorted(budgets, reverse=True) and budgets[-1] >= reproduce.MIN_BUDGET


def test_tiny_cells_run_without_tensorflow_and_every_claim_gets_a_verdict(tmp_path):
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-c", RUN_WITHOUT_TENSORFLOW, "--scale", "tiny", "--parts", "lm_adam,noise_lm_adam",
         "--batch-sizes", "16", "--out", str(out)],
        env=subprocess_env("jax", JAX_PLATFORMS="cpu"), cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    timings = json.loads((out / "timings.json").read_text())
    assert timings["backend"] == "jax"
    assert timings["cells"]["lm_adam/b16"]["status"] == "done", timings
    assert timings["parts"]["lm_adam"]["wall_s"] > 0
    (row,) = json.loads((out / "lm_adam" / "summary.json").read_text())["batch_sizes"]
    assert row["batch_size"] == 16 and row["trials"] == 2 and row["max_steps"] == 60
    noise_status = timings["cells"]["noise_lm_adam/b16"]["status"]
    assert row["steps_to_result"] is not None, row  # the tiny target is reached, so the noise cell runs:
    assert noise_status == "done", noise_status      # the best trial again, with the noise-scale callback on
    (noise_trial,) = [p for p in (out / "noise_lm_adam").rglob("measurements.csv")]
    assert "train/gradient_noise_scale" in noise_trial.read_text().splitlines()[0]

    out.chmod(0o555)  # as the GPU run's files come back: read-only
    try:
        assert claims.main([str(out), "--resamples", "200", "--output", str(tmp_path / "claims")]) == 0
    finally:
        out.chmod(0o755)
    written = json.loads((tmp_path / "claims" / "claims.json").read_text())
    assert [c["id"] for c in written] == list(claims.CLAIMS)
    for claim in written:
        assert claim["verdict"] in VERDICTS and claim["evidence"]
        assert (claim["to_decide"] is not None) == (claim["verdict"] == claims.UNDECIDED)
    markdown = (tmp_path / "claims" / "claims.md").read_text()
    assert "| lm_adam | 1 / 1 |" in markdown and "noise: steps_to_result.png" in markdown


def _two_optimizers(root, sgd_b_crit, momentum_b_crit):
    sizes = [8, 32, 128, 512, 2048]
    write_synthetic_tree(str(root / "cnn_sgd"), sizes, s_min=200.0, b_crit=sgd_b_crit, trials=8, seed=1)
    write_synthetic_tree(str(root / "cnn_nesterov"), sizes, s_min=200.0, b_crit=momentum_b_crit, trials=8, seed=2)


@pytest.mark.parametrize("sgd_b_crit, momentum_b_crit, verdict", [(16.0, 1024.0, claims.HOLDS),
                                                                  (1024.0, 16.0, claims.FAILS)])
def test_momentum_claim_follows_the_b_crit_intervals(tmp_path, sgd_b_crit, momentum_b_crit, verdict):
    _two_optimizers(tmp_path, sgd_b_crit, momentum_b_crit)
    result = {c["id"]: c for c in claims.evaluate_claims(tmp_path, n_resamples=300)}
    assert result["momentum_beyond_sgd"]["verdict"] == verdict, result["momentum_beyond_sgd"]
    assert result["sparsity"]["verdict"] == claims.UNDECIDED  # no sparse run
    # the synthetic best learning rates follow the square-root rule (times a little noise)
    assert result["learning_rate_rule"]["verdict"] == claims.FAILS, result["learning_rate_rule"]


def test_docs_block_is_replaced_between_the_markers(tmp_path):
    doc = tmp_path / "r.md"
    doc.write_text(f"# head\n{claims.BEGIN}\nold\n{claims.END}\ntail\n")
    claims.fill_docs(doc, "new results")
    assert doc.read_text() == f"# head\n{claims.BEGIN}\nnew results\n{claims.END}\ntail\n"


@pytest.mark.parametrize("module", [reproduce, claims], ids=["reproduce", "reproduction_claims"])
def test_doctests(module):
    import doctest

    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


def _trial_numbers(part_dir):
    """Every trial's parameters, outcome and measurements (wall-clock columns aside), by path."""
    from tfbsz.records import results

    found = {}
    for metadata in sorted(part_dir.rglob("metadata.json")):
        folder = metadata.parent
        meta = json.loads(metadata.read_text())
        rows = [{k: v for k, v in row.items() if "wall_time" not in k}
                for row in results.read_measurements(folder / "measurements.csv")]
        found[str(folder.relative_to(part_dir))] = (meta["parameters"], meta["tfbsz"]["outcome"],
                                                    meta["tfbsz"]["steps_to_target"], rows)
    return found


def test_parts_in_parallel_workers_give_the_numbers_of_one_process(tmp_path):
    """`--workers 2` (parts in their own processes, the noise part after the part it retrains)
    against one process: the same summaries and, trial by trial, the same measurements."""
    parts = ["cnn_nesterov", "noise_cnn_nesterov", "cnn_sgd"]
    for workers in (1, 2):
        result = subprocess.run(
            [sys.executable, "-c", RUN_WITHOUT_TENSORFLOW, "--scale", "tiny", "--parts", ",".join(parts),
             "--batch-sizes", "8", "--out", str(tmp_path / f"w{workers}"), "--workers", str(workers)],
            env=subprocess_env("jax", JAX_PLATFORMS="cpu"), cwd=ROOT, capture_output=True, text=True, timeout=600,
        )
        assert result.returncode == 0, result.stderr[-3000:]
    one, two = tmp_path / "w1", tmp_path / "w2"
    timings = json.loads((two / "timings.json").read_text())
    assert timings["workers"] == 2 and timings["elapsed_s"] > 0
    planned = reproduce.plan_cells("tiny", parts, [8])
    assert sorted(timings["cells"]) == sorted(f"{p}/b{b}" for p, b, _ in planned)
    alone = json.loads((one / "timings.json").read_text())["cells"]
    assert {k: c["status"] for k, c in timings["cells"].items()} == {k: c["status"] for k, c in alone.items()}
    assert all(c["status"] == "done" or c["status"].startswith("skipped: cnn_nesterov has no best trial")
               for c in timings["cells"].values()), timings["cells"]
    for part in parts:
        rows = [json.loads((root / part / "summary.json").read_text())["batch_sizes"] for root in (one, two)]
        keep = ("batch_size", "steps_to_result", "best_trial", "best_parameters", "trials", "reached")
        assert [{k: r[k] for k in keep} for r in rows[0]] == [{k: r[k] for k in keep} for r in rows[1]]
        numbers = _trial_numbers(one / part)
        assert numbers and numbers == _trial_numbers(two / part), part
    # the noise part ran after its tuned part, with that part's best metaparameters
    assert timings["cells"]["noise_cnn_nesterov/b8"]["status"] == "done"
    assert _trial_numbers(two / "noise_cnn_nesterov")
