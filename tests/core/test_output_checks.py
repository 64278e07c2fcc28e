"""One study per output folder, and a resumed study measures what it measured before.

The layout checks read names only; a resumed study that changes `eval_examples`, the search
(space, algorithm) or the learning-rate scaling is refused with one line, and nothing is written.
"""

import json

import pytest

from helpers import run_cli
from tfbsz.core.config import from_dict
from tfbsz.core.errors import ConfigError
from tfbsz.records import results
from tfbsz.study.resume_checks import check_layout, check_output, check_resume


def config(**changes):
    cfg = {"data": {"name": "digits"}, "model": {"name": "mlp"},
           "optimizer": {"name": "momentum", "learning_rate": 0.1, "momentum": 0.9},
           "target": {"metric": "val/classification_error", "threshold": 0.2},
           "budget": {"max_steps": 100}, "batch_sizes": [16, 64],
           "search": {"trials": 2, "space": {"optimizer.learning_rate": {"min": 0.02, "max": 0.3, "scale": "log"}}}}
    for path, value in changes.items():
        node = cfg
        *parents, last = path.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return from_dict(cfg)


def existing_study(root, cfg):
    results.write_json(root / results.STUDY_MARKER, {"config": cfg})
    directory = results.batch_size_dir(root, "digits", "mlp", "momentum", 16)
    results.write_json(directory / "study.json", {"batch_size": 16})
    results.write_trial(directory / "0", {"optimizer.learning_rate": 0.1}, "COMPLETE", 10, [{"step": 10}])
    return root


# --------------------------------------------------------------------------- layout (item 6)

def test_a_folder_holding_another_study_is_refused(tmp_path):
    existing_study(tmp_path / "a", config())
    with pytest.raises(ConfigError, match=r"holds another study in a/"):
        check_layout(tmp_path, config())


def test_a_folder_inside_another_study_is_refused(tmp_path):
    existing_study(tmp_path, config())
    with pytest.raises(ConfigError, match="is inside the study in"):
        check_layout(tmp_path / "digits" / "inner", config())


def test_a_bare_shallue_tree_is_another_study(tmp_path):
    directory = results.batch_size_dir(tmp_path, "mnist", "cnn", "sgd", 32)
    results.write_json(directory / "study.json", {"batch_size": 32})
    with pytest.raises(ConfigError, match="holds another study's batch size in mnist/cnn/sgd/32/"):
        check_layout(tmp_path, config())
    # also at this study's own paths when the folder is not a tfbsz study
    own = results.batch_size_dir(tmp_path / "b", "digits", "mlp", "momentum", 16)
    results.write_json(own / "study.json", {"batch_size": 16})
    with pytest.raises(ConfigError, match="another study's batch size"):
        check_layout(tmp_path / "b", config())


def test_the_layout_check_reads_names_only(tmp_path):
    """Another study's files may be anything (here a FIFO and unreadable JSON): never opened."""
    import os

    other = tmp_path / "other"
    other.mkdir()
    os.mkfifo(other / results.STUDY_MARKER)  # opening it would block for ever
    with pytest.raises(ConfigError, match="holds another study in other/"):
        check_layout(tmp_path, config())


def test_own_study_and_unrelated_files_pass(tmp_path):
    existing_study(tmp_path, config())
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("hello")
    (tmp_path / "link").symlink_to(tmp_path.parent)  # not followed
    check_layout(tmp_path, config())
    check_output(tmp_path, config(), resume=True)
    check_layout(tmp_path.parent / f"{tmp_path.name}-new", config())  # not there yet


def test_cli_refuses_an_output_holding_another_study_and_writes_nothing(tmp_path):
    existing_study(tmp_path / "a", config())
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    done = run_cli(["--config", "configs/smoke.yaml", "--output", str(tmp_path)], timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "holds another study in a/" in lines[0], done.stderr[-2000:]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


# --------------------------------------------------------------------------- resume (item 7)

@pytest.mark.parametrize("changes, key", [
    ({"eval_examples": 100}, "eval_examples"),
    ({"search__algorithm": "sobol"}, "search.algorithm"),
    ({"search__space": {"optimizer.learning_rate": {"min": 0.02, "max": 0.5, "scale": "log"}}},
     "search.space.optimizer.learning_rate.max"),
    ({"search__space": {"optimizer.learning_rate": {"min": 0.02, "max": 0.3, "scale": "log"},
                        "optimizer.momentum": {"min": 0.5, "max": 0.99}}}, "search.space.optimizer.momentum"),
    ({"scaling__rule": "linear"}, "scaling.rule"),
    ({"search__metaparameters": "rule"}, "search.metaparameters"),
    ({"optimizer__learning_rate": 0.2}, "optimizer.learning_rate"),
])
def test_resume_refuses_a_study_measured_differently(tmp_path, changes, key):
    existing_study(tmp_path, config())
    with pytest.raises(ConfigError) as info:
        check_resume(tmp_path, config(**changes))
    message = str(info.value)
    assert message.startswith(f"{key}: ") and "\n" not in message and len(message) < 400


def test_resume_allows_more_trials_and_batch_sizes(tmp_path):
    existing_study(tmp_path, config())
    check_resume(tmp_path, config(search__trials=5, batch_sizes=[16, 64, 256]))


def test_resume_of_an_older_study_compares_what_it_recorded(tmp_path):
    cfg = dict(config())
    del cfg["eval_examples"]  # written before eval_examples existed
    existing_study(tmp_path, cfg)
    check_resume(tmp_path, config(eval_examples=100))


def test_cli_resume_with_another_eval_examples_is_one_line(tmp_path):
    from tfbsz.core.config import load_config

    cfg = load_config("configs/smoke.yaml")
    cfg["output"] = str(tmp_path)
    existing_study(tmp_path, cfg)
    marker = json.loads((tmp_path / results.STUDY_MARKER).read_text())
    done = run_cli(["--config", "configs/smoke.yaml", "--output", str(tmp_path), "--resume",
                    "--set", "eval_examples=50"], timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tfbsz: error: eval_examples: 50 differs from null")
    assert json.loads((tmp_path / results.STUDY_MARKER).read_text()) == marker
