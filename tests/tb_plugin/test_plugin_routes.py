"""Route tests for the "Steps to target" plugin, in process (werkzeug test client, no server)."""

import json
import os
import subprocess
import sys
from importlib import metadata as importlib_metadata

import pytest

from tb_plugin.fixtures import BATCH_SIZES, TARGET, expected_steps_to_result, write_fixture_study
from tb_plugin.plugin_client import PREFIX, get_json, make_client
from tfbsz.records import results


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    """Two studies to overlay: SGD scales to a small batch size, momentum to a larger one."""
    root = tmp_path_factory.mktemp("logdir")
    write_fixture_study(root / "sgd", optimizer="sgd", b_crit=60.0, s_min=150.0, lr_exponent=0.3)
    write_fixture_study(root / "momentum", optimizer="momentum", b_crit=300.0, s_min=80.0)
    return root


@pytest.fixture(scope="module")
def client(logdir):
    return make_client(logdir)


def test_plugins_listing_enables_the_tab_with_an_es_module(client):
    listing = json.loads(client.get("/data/plugins_listing").get_data())["tfbsz"]
    assert listing["enabled"] is True
    assert listing["tab_name"] == "Steps to target"
    assert listing["loading_mechanism"] == {"type": "IFRAME", "module_path": f"{PREFIX}/index.js"}


def test_plugin_is_inactive_on_a_logdir_without_studies(tmp_path):
    (tmp_path / "events").mkdir()
    client = make_client(tmp_path)
    assert json.loads(client.get("/data/plugins_listing").get_data())["tfbsz"]["enabled"] is False
    assert get_json(client, "/runs") == (200, {"runs": [], "notes": []})


def test_static_files_are_served_with_javascript_and_css_types(client):
    index = client.get(f"{PREFIX}/index.js")
    assert index.status_code == 200
    assert index.headers["Content-Type"].startswith("text/javascript")
    assert b"export async function render" in index.get_data()
    assert client.get(f"{PREFIX}/static/charts.js").status_code == 200
    assert client.get(f"{PREFIX}/static/style.css").headers["Content-Type"].startswith("text/css")


@pytest.mark.parametrize("path", [
    "/static/../plugin.py", "/static/%2e%2e/plugin.py", "/static/..%2fplugin.py", "/static/",
    "/static/missing.js", "/static/..%5c__init__.py", "/static//etc/passwd",
])
def test_static_route_refuses_anything_but_the_shipped_files(client, path):
    response = client.get(PREFIX + path)
    assert response.status_code == 404, path
    assert b"from tfbsz" not in response.get_data()  # no Python source leaks out


def test_runs_lists_both_studies_with_their_workloads(client):
    code, body = get_json(client, "/runs")
    assert code == 200
    runs = {r["name"]: r for r in body["runs"]}
    assert sorted(runs) == ["momentum", "sgd"]
    assert runs["sgd"]["kind"] == "tfbsz"
    assert (runs["sgd"]["dataset"], runs["sgd"]["model"], runs["sgd"]["optimizer"]) == ("digits", "mlp", "sgd")
    assert runs["momentum"]["target"] == TARGET


def test_study_reports_steps_to_result_per_batch_size(client):
    code, body = get_json(client, "/study?run=momentum")
    assert code == 200
    assert body["target_source"] == "study"
    rows = {r["batch_size"]: r for r in body["batch_sizes"]}
    assert sorted(rows) == list(BATCH_SIZES)
    for bs, row in rows.items():
        assert row["steps_to_result"] == expected_steps_to_result(bs, 80.0, 300.0)
        assert row["best_trial"] == 0
        assert row["best_learning_rate"] == pytest.approx(0.05 * (bs / 16) ** 0.5)
        assert (row["trials"], row["reached"], row["missed"], row["diverged"]) == (4, 2, 1, 1)
    assert body["learning_rate_key"] == "learning_rate"
    assert body["parameter_names"] == ["learning_rate", "momentum"]
    assert "val/classification_error" in body["metrics"]


def test_study_lists_every_trial_with_status_and_metaparameters(client):
    _, body = get_json(client, "/study?run=sgd")
    assert len(body["trials"]) == 4 * len(BATCH_SIZES)
    diverged = [t for t in body["trials"] if t["status"] == "INFEASIBLE"]
    assert len(diverged) == len(BATCH_SIZES)
    assert all(t["outcome"] == "diverged" and t["steps_to_target"] is None for t in diverged)
    first = next(t for t in body["trials"] if (t["batch_size"], t["trial_id"]) == (64, 0))
    assert first["steps_to_target"] == expected_steps_to_result(64, 150.0, 60.0)
    assert set(first["parameters"]) == {"learning_rate", "momentum"}


def test_study_analysis_fits_the_critical_batch_size_and_regimes(client):
    pytest.importorskip("tfbsz.analysis")
    fits = {}
    for run, true_b_crit in (("sgd", 60.0), ("momentum", 300.0)):
        _, body = get_json(client, f"/study?run={run}")
        analysis = body["analysis"]
        assert analysis["fit_error"] is None
        fits[run] = analysis["fit"]["b_crit"]
        assert 0.6 * true_b_crit < fits[run] < 1.5 * true_b_crit
        low, high = analysis["fit"]["b_crit_interval"]
        assert (low or 0) <= fits[run] <= (high if high is not None else float("inf"))
        assert len(analysis["fitted_curve"]) > 10
        perfect = analysis["perfect_scaling"]
        assert perfect["reference_batch_size"] == BATCH_SIZES[0]
        (b0, s0), (b1, s1) = perfect["points"]
        assert s0 * b0 == pytest.approx(s1 * b1)
        # judged against the fitted small-batch limit: S / (E_min / B) = 1 + B / B_crit <= 1.2 at B = 16?
        first = "perfect scaling" if BATCH_SIZES[0] <= 0.2 * true_b_crit else "diminishing returns"
        assert analysis["regime_bands"][0]["name"] == first
        assert body["batch_sizes"][0]["regime"] == first
    assert fits["sgd"] < fits["momentum"]


def test_target_from_the_request_replaces_the_studys_target(client):
    code, body = get_json(client, "/study?run=momentum&metric=val/classification_error&threshold=0.3")
    assert code == 200 and body["target_source"] == "request"
    assert body["target"] == {"metric": "val/classification_error", "threshold": 0.3, "direction": "min"}
    easier = {r["batch_size"]: r["steps_to_result"] for r in body["batch_sizes"]}
    assert all(easier[bs] < expected_steps_to_result(bs, 80.0, 300.0) for bs in BATCH_SIZES)
    _, body = get_json(client, "/study?run=momentum&metric=val/accuracy&threshold=0.7")
    assert body["target"]["direction"] == "max"
    assert all(r["steps_to_result"] is not None for r in body["batch_sizes"])


@pytest.mark.parametrize("query, code", [
    ("", 400),
    ("?run=", 400),
    ("?run=nope", 404),
    ("?run=../../etc", 400),
    ("?run=..%2F..%2Fetc%2Fpasswd", 400),
    ("?run=%2Fetc", 400),
    ("?run=sgd/../../x", 400),
    ("?run=..%5C..%5Cwindows", 400),
    ("?run=sgd%00", 400),
    ("?run=" + "a" * 5000, 400),
    ("?run=sgd&run=momentum", 400),
    ("?run=sgd&colour=red", 400),
    ("?run=sgd&threshold=0.1", 400),
    ("?run=sgd&metric=val/accuracy", 400),
    ("?run=sgd&metric=val/accuracy&threshold=abc", 400),
    ("?run=sgd&metric=val/accuracy&threshold=nan", 400),
    ("?run=sgd&metric=val/accuracy&threshold=inf", 400),
    ("?run=sgd&metric=val/accuracy&threshold=0.5&direction=up", 400),
    ("?run=sgd&metric=no/such_metric&threshold=0.5", 400),
])
def test_bad_study_requests_get_a_json_4xx_answer(client, query, code):
    response = client.get(f"{PREFIX}/study{query}")
    assert response.status_code == code, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("application/json")
    assert json.loads(response.get_data())["error"]


def test_unreadable_study_files_give_422_and_leave_other_studies_listed(tmp_path):
    root = write_fixture_study(tmp_path / "broken", batch_sizes=(16, 64), trials_per_batch_size=2)
    write_fixture_study(tmp_path / "fine", batch_sizes=(16, 64), trials_per_batch_size=2)
    (results.batch_size_dir(root, "digits", "mlp", "momentum", 64) / "1" / "metadata.json").write_text("{not json")
    client = make_client(tmp_path)
    code, body = get_json(client, "/study?run=broken")
    assert code == 422 and "broken" in body["error"]
    assert get_json(client, "/study?run=fine")[0] == 200
    assert [r["name"] for r in get_json(client, "/runs")[1]["runs"]] == ["broken", "fine"]


def test_bare_shallue_tree_is_listed_and_takes_a_target_from_the_request(tmp_path):
    bs_dir = results.batch_size_dir(tmp_path / "released", "mnist", "simple_cnn", "sgd", 128)
    results.write_json(bs_dir / "study.json", {"batch_size": 128, "dataset": "mnist", "model": "simple_cnn",
                                               "optimizer": "sgd", "train_steps": 300})
    for trial, error_at_300 in (("1", 0.02), ("2", 0.008)):
        results.write_trial(bs_dir / trial, {"learning_rate": 0.1 * int(trial)}, "COMPLETE", 300, [
            {"step": 100, "val/classification_error": 0.05},
            {"step": 300, "val/classification_error": error_at_300}])
    client = make_client(tmp_path)
    _, runs = get_json(client, "/runs")
    assert runs["runs"] == [{"name": "released/mnist/simple_cnn/sgd", "kind": "shallue", "dataset": "mnist",
                             "model": "simple_cnn", "optimizer": "sgd", "target": None}]
    code, body = get_json(client, "/study?run=released/mnist/simple_cnn/sgd")
    assert code == 200 and body["target"] is None and body["batch_sizes"][0]["steps_to_result"] is None
    code, body = get_json(client, "/study?run=released/mnist/simple_cnn/sgd"
                                  "&metric=val/classification_error&threshold=0.01")
    assert code == 200
    assert body["batch_sizes"][0]["steps_to_result"] == 300
    assert body["batch_sizes"][0]["best_trial"] == 2
    assert body["batch_sizes"][0]["best_learning_rate"] == pytest.approx(0.2)


def test_study_route_never_answers_500_to_odd_queries(client):
    for query in ["?run=%ff%fe", "?run=sgd&threshold=", "?run=sgd&metric=&threshold=1", "?run=.",
                  "?run=sgd&direction=min", "?run=C:%5Cx", "?run=\u00e9t\u00e9"]:
        response = client.get(f"{PREFIX}/study{query}")
        assert 200 <= response.status_code < 500, (query, response.status_code)


def test_plugin_imports_neither_keras_nor_tensorflow(logdir):
    code = (
        "import sys, json\n"
        "sys.path.insert(0, %r)\n"
        "from tb_plugin.plugin_client import get_json, make_client\n"
        "code, body = get_json(make_client(%r), '/study?run=sgd')\n"
        "assert code == 200, body\n"
        "heavy = sorted(m for m in ('keras', 'tensorflow', 'jax') if m in sys.modules)\n"
        "print(json.dumps(heavy))\n"
    ) % (os.path.dirname(os.path.dirname(os.path.abspath(__file__))), str(logdir))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_entry_point_names_the_plugin_class():
    try:
        importlib_metadata.distribution("tfbsz")
    except importlib_metadata.PackageNotFoundError:
        pytest.skip("tfbsz is not pip-installed (pip install -e .), so no entry point to check")
    entry = [e for e in importlib_metadata.entry_points(group="tensorboard_plugins") if e.dist.name == "tfbsz"]
    assert [e.value for e in entry] == ["tfbsz.tb_plugin.plugin:StepsToTargetPlugin"]
    from tfbsz.tb_plugin.plugin import StepsToTargetPlugin

    assert entry[0].load() is StepsToTargetPlugin
