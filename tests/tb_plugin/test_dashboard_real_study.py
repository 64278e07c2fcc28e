"""End to end over a REAL study: `python -m tfbsz.run` on configs/smoke.yaml (noise scale on),
then a real `tensorboard` on loopback over it, the "Steps to target" tab read in headless
Chromium, and TensorBoard's own HParams and Scalars data read over HTTP from the same server.

The screenshot is kept as a test artefact: test-artifacts/dashboard_real_study.png (gitignored).
The same study also drives scripts/readme_assets.py (the README images) into a temporary folder.
"""

import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request

import pytest

from real_study import SMOKE_BATCH_SIZES, smoke_study_with_noise_scale
from tb_plugin.browser_check import browser_available, fetch_json, read_dashboard, tensorboard_server

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCREENSHOT = os.path.join(ROOT, "test-artifacts", "dashboard_real_study.png")
ALL_STATUSES = ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"]

_available, _reason = browser_available()

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.skipif(not _available, reason=_reason)]


def _post_json(url, body, timeout=30):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def _trial_ids(root):
    """{"bs_16/0", ...}: every trial folder of the study, named as tb_logging names the runs."""
    ids = set()
    for bs in SMOKE_BATCH_SIZES:
        bs_dir = root / "digits" / "mlp" / "momentum" / str(bs)
        ids |= {f"bs_{bs}/{p.name}" for p in bs_dir.iterdir() if (p / "metadata.json").exists()}
    return ids


def test_real_study_dashboard_hparams_and_scalars():
    root = smoke_study_with_noise_scale()
    summary = json.loads((root / "summary.json").read_text())
    steps = {r["batch_size"]: r["steps_to_result"] for r in summary["batch_sizes"]}
    trial_ids = _trial_ids(root)
    assert len(trial_ids) == 4
    if os.path.exists(SCREENSHOT):
        os.remove(SCREENSHOT)

    with tensorboard_server(root) as url:
        plugins = fetch_json(f"{url}/data/plugins_listing")
        assert plugins["tfbsz"]["enabled"], plugins.get("tfbsz")
        assert plugins["hparams"]["enabled"], plugins.get("hparams")

        # --- the Steps-to-target tab in headless Chromium -------------------------------------
        snapshot = read_dashboard(url, SCREENSHOT)
        assert snapshot["errors"] == [], snapshot["errors"]
        assert snapshot["runs"] == ["smoke"]  # the logdir is the study itself: named by its folder
        assert snapshot["chart_batch_sizes"] == {"smoke": SMOKE_BATCH_SIZES}
        assert snapshot["table_batch_sizes"] == {"smoke": SMOKE_BATCH_SIZES}
        assert snapshot["trial_rows"] == 4
        assert {"16", "64"} <= set(snapshot["x_tick_labels"])
        (card,) = snapshot["fit_cards"]
        assert "val/classification_error < 0.15" in card
        assert "2 of 2 batch sizes reached the target; 4 trials." in card
        # two batch sizes: no B_crit fit, but the measured noise scale B_simple is shown
        assert "No fit" in card and "B_simple ≈" in card

        study = fetch_json(f"{url}/data/plugin/tfbsz/study?run=smoke")
        assert {b["batch_size"]: b["steps_to_result"] for b in study["batch_sizes"]} == steps
        noise = study["noise_scale"]
        assert noise["trials"] == 2 and noise["b_simple"] > 0  # one best trial per batch size, at the goal
        assert sorted(noise["by_batch_size"]) == ["16", "64"]

        # --- TensorBoard's HParams tab lists the trials (its HTTP API) -------------------------
        experiment = _post_json(f"{url}/data/plugin/hparams/experiment", {"experimentName": ""})
        assert {h["name"] for h in experiment["hparamInfos"]} == {"batch_size", "optimizer.learning_rate"}
        assert {"steps_to_target", "reached"} <= {m["name"]["tag"] for m in experiment["metricInfos"]}
        groups = _post_json(f"{url}/data/plugin/hparams/session_groups", {
            "experimentName": "", "startIndex": 0, "sliceSize": 100, "allowedStatuses": ALL_STATUSES,
        })["sessionGroups"]
        # runs are named from the logdir (the study root): tensorboard/bs_16/0, ...
        sessions = {s["name"].removeprefix("tensorboard/"): (g, s) for g in groups for s in g["sessions"]}
        assert set(sessions) == trial_ids
        for name, (group, session) in sessions.items():
            bs, trial = name[3:].split("/")
            meta = json.loads((root / "digits" / "mlp" / "momentum" / bs / trial / "metadata.json").read_text())
            assert group["hparams"]["batch_size"] == int(bs)
            assert group["hparams"]["optimizer.learning_rate"] == pytest.approx(
                meta["parameters"]["optimizer.learning_rate"], rel=1e-6)
            metrics = {m["name"]["tag"]: m["value"] for m in group["metricValues"] if m["name"]["group"] == ""}
            assert metrics["reached"] == float(meta["tfbsz"]["outcome"] == "reached")
            if meta["tfbsz"]["steps_to_target"] is not None:
                assert metrics["steps_to_target"] == meta["tfbsz"]["steps_to_target"]
            assert session["status"] == "STATUS_SUCCESS"
        best16 = min(v["value"] for (g, _) in sessions.values() if g["hparams"]["batch_size"] == 16
                     for v in g["metricValues"] if v["name"]["tag"] == "steps_to_target")
        assert best16 == steps[16]

        # --- per-trial scalars in the Scalars tab ----------------------------------------------
        tags = fetch_json(f"{url}/data/plugin/scalars/tags")
        run = "tensorboard/bs_64/0"
        assert {"val/cross_entropy_error", "train/cross_entropy_error", "learning_rate",
                "train/gradient_noise_scale", "val/classification_error/by_examples"} <= set(tags[run])
        query = urllib.parse.urlencode({"run": run, "tag": "val/classification_error/by_examples"})
        by_examples = fetch_json(f"{url}/data/plugin/scalars/scalars?{query}")
        assert [int(p[1]) for p in by_examples][:2] == [640, 1280]  # examples seen at steps 10, 20

    assert os.path.getsize(SCREENSHOT) > 20_000


def test_readme_assets_script_writes_both_images(tmp_path):
    root = smoke_study_with_noise_scale()
    out = tmp_path / "images"
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "readme_assets.py"), str(root),
                           "--output", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == [str(out / "dashboard.png"), str(out / "steps_to_result.png")]
    for name in ["dashboard.png", "steps_to_result.png"]:
        data = (out / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 20_000, name
    assert not (root / "report").exists()  # the study folder is left alone

    missing = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "readme_assets.py"),
                              str(tmp_path / "nope"), "--output", str(out)], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"readme_assets: error: {str(tmp_path / 'nope')!r} is not a directory"
