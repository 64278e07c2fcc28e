"""Bad input on the command line: one line on stderr naming the problem, exit code 2, no traceback."""

import os
import stat
import subprocess
import sys

import pytest

from helpers import ROOT, block_imports, run_cli, subprocess_env

SMOKE = "configs/smoke.yaml"


def assert_one_line_error(proc, *fragments):
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("tfbsz: error: ") or lines[0].startswith("usage:") is False
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# Errors found while checking the config: no Keras import, fast.
@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--set", "optimzer.name=sgd"], ["optimzer: unknown key", "did you mean 'optimizer'"]),
        (["--set", "eval_every=often"], ["eval_every: expected an integer >= 1", "'often'"]),
        (["--set", "batch_sizes=[16, 0]"], ["batch_sizes[1]: expected an integer >= 1, got 0"]),
        (["--set", "batch_sizes=[-4]"], ["batch_sizes[0]: expected an integer >= 1, got -4"]),
        (["--set", "batch_sizes=[]"], ["batch_sizes: the list is empty"]),
        (["--batch-sizes", "16,x"], ["--batch-sizes: expected comma-separated integers"]),
        (["--set", "target.metric=val/perplexity"], ["target.metric: the models do not produce 'val/perplexity'"]),
    ],
)
def test_config_errors(args, fragments):
    assert_one_line_error(run_cli(["--config", SMOKE, *args], timeout=120), *fragments)


def test_missing_and_malformed_config_files(tmp_path):
    assert_one_line_error(run_cli(["--config", str(tmp_path / "nope.yaml")], timeout=60), "no such file")
    bad = write(tmp_path, "bad.yaml", "data: {name: digits\nmodel: [mlp\n")
    assert_one_line_error(run_cli(["--config", bad], timeout=60), "malformed YAML", "line")


# Errors found while setting the study up. The data set, model, strategy and output folder are
# checked before Keras is imported (test below); the optimizer's and schedule's options come from
# Keras classes, so those errors come after the import.
@pytest.mark.parametrize(
    "override, fragments",
    [
        ("data.name=mnist6k", ["data.name: unknown data set 'mnist6k'", "valid names"]),
        ("model.name=resnett", ["model.name: unknown model 'resnett'", "did you mean 'resnet'"]),
        ("optimizer.name=lamb2", ["optimizer.name: unknown optimizer 'lamb2'", "lamb"]),
        ("model.hidden_unitz=[8]", ["model.hidden_unitz: unknown option", "hidden_units"]),
        ("data.name=tfds:mnist", ["tfds:mnist", "data.download", "data_dir"]),
    ],
)
def test_component_errors(tmp_path, override, fragments):
    proc = run_cli(["--config", SMOKE, "--output", str(tmp_path / "out"), "--set", override,
                    "--set", f"data.data_dir={tmp_path / 'tfds'}" if override.startswith("data.name=tfds") else "seed=0"],
                   timeout=180)
    assert_one_line_error(proc, *fragments)


BLOCK_KERAS = block_imports("keras", "tensorflow", "jax") + """
from tfbsz.run import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("args, fragment", [
    (["--set", "model.name=resnett"], "model.name: unknown model 'resnett'"),
    (["--set", "data.name=mnist6k"], "data.name: unknown data set 'mnist6k'"),
    (["--set", "model.hidden_unitz=[8]"], "model.hidden_unitz: unknown option for model 'mlp'"),
    (["--set", "strategy.name=mirored"], "strategy.name: unknown strategy 'mirored'"),
    (["--set", "search.space={model.width: {min: 1, max: 2}}"], "search.space.model.width: model 'mlp' has no option"),
])
def test_component_errors_come_before_keras_is_imported(tmp_path, args, fragment):
    assert_one_line_error(run_without_keras(["--config", SMOKE, "--output", str(tmp_path / "o"), *args]), fragment)


def run_without_keras(args):
    return subprocess.run([sys.executable, "-c", BLOCK_KERAS, *args], cwd=ROOT, env=subprocess_env(),
                          capture_output=True, text=True, timeout=60)


def test_unwritable_output_folder(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    target = locked / "study"
    try:
        if os.geteuid() == 0:  # root ignores permissions: use a path under a regular file instead
            blocker = tmp_path / "file"
            blocker.write_text("x")
            target = blocker / "study"
        proc = run_cli(["--config", SMOKE, "--output", str(target)], timeout=180)
    finally:
        locked.chmod(stat.S_IRWXU)
    assert_one_line_error(proc, "output: cannot write to", str(target))


def test_existing_study_needs_resume(tmp_path):
    out = tmp_path / "s"
    out.mkdir()
    (out / "tfbsz_study.json").write_text("{}")
    assert_one_line_error(run_without_keras(["--config", SMOKE, "--output", str(out)]), "--resume")


# Hostile or broken values: one short line naming the key, exit code 2, nothing written.
def _alias_bomb(depth=9, width=9):
    """A YAML flow list of a few hundred bytes that stands for width**depth strings."""
    names = "abcdefghijklmnopqrstuvwxyz"
    parts = ["&a [" + ", ".join(['"lol"'] * width) + "]"]
    parts += [f"&{names[i]} [" + ", ".join([f"*{names[i - 1]}"] * width) + "]" for i in range(1, depth)]
    return "[" + ", ".join(parts) + "]"


SMOKE_TEXT = open(os.path.join(os.path.dirname(__file__), "..", "..", SMOKE)).read()
BIG = "1" + "0" * 400


@pytest.mark.parametrize(
    "old, new, fragments",
    [
        ("seed: 0", f"seed: {_alias_bomb()}", ["seed: the value holds 4", "YAML aliases"]),
        ("model: {name: mlp, hidden_units: [64]}", f"model: {{name: mlp, hidden_units: {_alias_bomb()}}}",
         ["model.hidden_units: the value holds"]),
        ("{min: 0.02, max: 0.3, scale: log}", f"{{values: {_alias_bomb(depth=3)}}}",
         ["search.space.optimizer.learning_rate.values[0]: expected a number, string or true/false, got ['lol'"]),
        ("metric: val/classification_error", "metric: [a]", ["target.metric: the models do not produce ['a'] (list)"]),
        ("learning_rate: 0.1,", f"learning_rate: {BIG},", ["optimizer.learning_rate: expected a number > 0", "too large"]),
        ("threshold: 0.15", f"threshold: {BIG}", ["target.threshold: expected a number", "too large for a float"]),
        ("eval_every: 10", f"eval_every: {BIG}", ["eval_every: expected an integer below 2**63"]),
        ("{min: 0.02, max: 0.3, scale: log}", "{values: [0.1, [1]]}",
         ["search.space.optimizer.learning_rate.values[1]: expected a number, string or true/false, got [1] (list)"]),
        ("{min: 0.02, max: 0.3, scale: log}", "{values: [0.1, 'a']}",
         ["search.space.optimizer.learning_rate.values: mixes numbers and strings"]),
        ("seed: 0", 'seed: 0\ninit: {freeze: ["("]}', ["init.freeze[0]: '(' is not a regular expression"]),
        ("seed: 0", "seed: 0\n? " + "x" * 100_000 + "\n: 1", ["unknown key", "..."]),
        ("seed: 0", "seed: " + "[" * 300 + "]" * 300, ["seed: expected an integer >= 0, got [[[[...]]]] (list)"]),
        ("seed: 0", "seed: " + "[" * 5000 + "]" * 5000, ["bad.yaml: nested too deeply"]),
    ],
    ids=["alias-bomb-known-key", "alias-bomb-component-option", "alias-bomb-in-choice", "metric-list",
         "huge-number", "huge-threshold", "huge-integer", "nested-choice-value", "mixed-choice-values",
         "bad-freeze-regex", "huge-key", "nesting", "deep-nesting"],
)
def test_hostile_values_end_in_one_short_line_and_write_nothing(tmp_path, old, new, fragments):
    assert old in SMOKE_TEXT
    config = write(tmp_path, "bad.yaml", SMOKE_TEXT.replace(old, new, 1))
    out = tmp_path / "out"
    proc = run_cli(["--config", config, "--output", str(out)], timeout=120)
    assert_one_line_error(proc, *fragments)
    # short: a value is described in at most ~120 characters; an unknown top-level key also lists
    # the valid ones (24 names, about 270 characters)
    assert len(proc.stderr) < 450, proc.stderr[:1000]
    assert not out.exists()


def test_error_lines_are_capped_whatever_the_message(monkeypatch, capsys):
    from tfbsz import run
    from tfbsz.core import config
    from tfbsz.core.errors import ConfigError

    def flood(*args, **kwargs):
        raise ConfigError("seed: " + "x" * 1_000_000)

    monkeypatch.setattr(config, "load_config", flood)
    assert run.main(["--config", SMOKE]) == 2
    err = capsys.readouterr().err
    assert err.startswith("tfbsz: error: seed: xxx") and len(err) <= run.MAX_ERROR_CHARS + 20
