"""HParams written by tfbsz.records.hparams_logging read back by TensorBoard's own HParams plugin."""

import json
import os
import subprocess
import sys

import pytest
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_provider as tb_data_provider
from tensorboard.backend.event_processing import plugin_event_multiplexer, tag_types
from tensorboard.plugins import base_plugin
from tensorboard.plugins.hparams import hparams_plugin
from tensorboard.plugins.scalar import scalars_plugin
from werkzeug import test as werkzeug_test
from werkzeug import wrappers

from tfbsz.records import hparams_logging
from tfbsz.core.errors import ConfigError

TRIALS = [
    ("bs_16/00", {"batch_size": 16, "learning_rate": 0.05, "optimizer": "momentum"}, 1350, "COMPLETE"),
    ("bs_64/00", {"batch_size": 64, "learning_rate": 0.1, "optimizer": "momentum"}, 420, "COMPLETE"),
    ("bs_64/01", {"batch_size": 64, "learning_rate": 3.2, "optimizer": "momentum"}, None, "INFEASIBLE"),
]


@pytest.fixture(scope="module")
def hparams_client(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("hparams")
    hparams_logging.log_study_hparams_config(
        logdir, ["batch_size", "learning_rate", "optimizer"], ["steps_to_target", "reached"],
        domains={"batch_size": [16, 64], "learning_rate": (1e-3, 10.0)},
        descriptions={"steps_to_target": "optimizer updates to reach the target"})
    for trial_id, parameters, steps, status in TRIALS:
        hparams_logging.log_trial_hparams(
            logdir, trial_id, parameters, {"steps_to_target": steps, "reached": steps is not None}, status=status)
    mux = plugin_event_multiplexer.EventMultiplexer(size_guidance={tag_types.TENSORS: 0})
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    context = base_plugin.TBContext(
        logdir=str(logdir), multiplexer=mux,
        data_provider=tb_data_provider.MultiplexerDataProvider(mux, str(logdir)))
    plugins = [scalars_plugin.ScalarsPlugin(context), hparams_plugin.HParamsPlugin(context)]
    context.plugin_name_to_instance = {p.plugin_name: p for p in plugins}
    app = application.TensorBoardWSGI(plugins, data_provider=context.data_provider)
    return werkzeug_test.Client(app, wrappers.Response)


def _post(client, route, body):
    response = client.post(f"/data/plugin/hparams/{route}", data=json.dumps(body),
                           content_type="application/json")
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.get_data())


def test_hparams_tab_is_enabled(hparams_client):
    listing = json.loads(hparams_client.get("/data/plugins_listing").get_data())
    assert listing["hparams"]["enabled"] is True


def test_experiment_lists_parameters_with_domains_and_metrics(hparams_client):
    experiment = _post(hparams_client, "experiment", {"experimentName": ""})
    infos = {h["name"]: h for h in experiment["hparamInfos"]}
    assert sorted(infos) == ["batch_size", "learning_rate", "optimizer"]
    assert infos["learning_rate"]["domainInterval"] == {"minValue": 0.001, "maxValue": 10.0}
    assert infos["batch_size"]["domainDiscrete"] == [16, 64]
    metrics = {m["name"]["tag"]: m for m in experiment["metricInfos"]}
    assert sorted(metrics) == ["reached", "steps_to_target"]
    assert metrics["steps_to_target"]["description"] == "optimizer updates to reach the target"


def test_session_groups_hold_each_trials_values_metrics_and_status(hparams_client):
    groups = _post(hparams_client, "session_groups", {
        "experimentName": "", "startIndex": 0, "sliceSize": 10,
        "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
    })["sessionGroups"]
    by_name = {g["name"]: g for g in groups}
    assert sorted(by_name) == sorted(t[0] for t in TRIALS)
    fast = by_name["bs_64/00"]
    assert fast["hparams"] == {"batch_size": 64, "learning_rate": 0.1, "optimizer": "momentum"}
    metrics = {m["name"]["tag"]: m["value"] for m in fast["metricValues"]}
    assert metrics == {"steps_to_target": 420.0, "reached": 1.0}
    assert fast["sessions"][0]["status"] == "STATUS_SUCCESS"
    diverged = by_name["bs_64/01"]
    assert diverged["sessions"][0]["status"] == "STATUS_FAILURE"
    assert {m["name"]["tag"] for m in diverged["metricValues"]} == {"reached"}  # no steps: not written


def test_parameter_values_are_normalised():
    np = pytest.importorskip("numpy")
    assert hparams_logging._hparam_value(np.float32(0.5)) == 0.5
    assert hparams_logging._hparam_value(np.int64(3)) == 3
    assert hparams_logging._hparam_value(float("nan")) == "nan"
    assert hparams_logging._hparam_value((1, 2)) == "(1, 2)"


@pytest.mark.parametrize("trial_id", ["", "../x", "/abs", "a//b", "bs/../../x"])
def test_bad_trial_ids_are_refused(tmp_path, trial_id):
    with pytest.raises(ConfigError, match="trial_id"):
        hparams_logging.log_trial_hparams(tmp_path, trial_id, {"lr": 0.1}, {})
    assert not list(tmp_path.rglob("events.out.tfevents.*"))
    assert not (tmp_path.parent / "x").exists()


def test_unknown_status_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="status"):
        hparams_logging.log_trial_hparams(tmp_path, "t0", {"lr": 0.1}, {}, status="DONE")


def test_writing_needs_no_tensorflow(tmp_path):
    """Run in a child process where importing TensorFlow or Keras fails, as on a JAX-only machine."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('tensorflow', 'keras'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from tfbsz import hparams_logging\n"
        "hparams_logging.log_study_hparams_config(sys.argv[1], ['lr'], ['steps_to_target'])\n"
        "p = hparams_logging.log_trial_hparams(sys.argv[1], 't0', {'lr': 0.1}, {'steps_to_target': 5})\n"
        "print(p)\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, PYTHONPATH=root))
    assert done.returncode == 0, done.stderr[-2000:]
    written = sorted(p.relative_to(tmp_path).parent.as_posix() for p in tmp_path.rglob("events.out.tfevents.*"))
    assert written == [".", "t0"]
