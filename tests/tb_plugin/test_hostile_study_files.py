"""The plugin (and, through the one reader, the report and the analysis) on broken or hostile
study files: malformed JSON values, numbers beyond float range, deep nesting, links out of the
logdir, FIFOs, oversized files, odd run names; plus the run-list and study caches."""

import json
import os
import threading

import pytest

from tb_plugin.fixtures import write_fixture_study
from tb_plugin.plugin_client import get_json, make_client
from tfbsz.analysis import load_workloads
from tfbsz.core.errors import ConfigError
from tfbsz.records import file_reading, results
from tfbsz.tb_plugin import _files, _scaling


def _small(root, optimizer="momentum"):
    return write_fixture_study(root, optimizer=optimizer, batch_sizes=(16, 64), trials_per_batch_size=2)


def _trial(root, batch_size=64, trial=1, optimizer="momentum"):
    return results.trial_dir(results.batch_size_dir(root, "digits", "mlp", optimizer, batch_size), trial)


def _edit_metadata(root, change, **where):
    path = _trial(root, **where) / "metadata.json"
    metadata = json.loads(path.read_text())
    change(metadata)
    path.write_text(json.dumps(metadata))


@pytest.fixture
def two_studies(tmp_path):
    _small(tmp_path / "bad")
    _small(tmp_path / "good")
    return tmp_path


def _only_good_is_served(logdir, bad_code=422):
    client = make_client(logdir)
    assert get_json(client, "/study?run=good")[0] == 200
    code, body = get_json(client, "/study?run=bad")
    assert code == bad_code, body
    assert "error" in body
    return client, body


@pytest.mark.parametrize("change", [
    lambda m: m.update(parameters=[1]),
    lambda m: m.update(status=["COMPLETE"]),
    lambda m: m.update(steps="many"),
    lambda m: m.update(tfbsz=7),
])
def test_malformed_metadata_values_give_422_not_500(two_studies, change):
    _edit_metadata(two_studies / "bad", change)
    client, body = _only_good_is_served(two_studies)
    assert "metadata.json" in body["error"]
    assert [r["name"] for r in get_json(client, "/runs")[1]["runs"]] == ["bad", "good"]


def test_integers_beyond_float_range_are_infinities_not_500(two_studies):
    huge = "1" + "0" * 400
    summary = two_studies / "bad" / "summary.json"
    summary.write_text('{"batch_sizes": [{"batch_size": %s, "steps_to_result": %s, "trials": %s}]}'
                       % (huge, huge, huge))
    path = _trial(two_studies / "bad") / "metadata.json"
    path.write_text(path.read_text().replace('"learning_rate": ', '"learning_rate": %s, "x": ' % huge, 1))
    client = make_client(two_studies)
    code, body = get_json(client, "/study?run=bad")
    assert code == 200, body
    assert sorted(r["batch_size"] for r in body["batch_sizes"]) == [16, 64]
    assert any(t["parameters"].get("learning_rate", 0) is None for t in body["trials"])
    _edit_metadata(two_studies / "bad", lambda m: m.update(steps=float("inf")))
    assert get_json(client, "/study?run=bad")[0] == 422


def test_deeply_nested_json_gives_422_and_a_bad_study_is_skipped_in_runs_with_a_note(two_studies):
    nested = "[" * 200_000 + "]" * 200_000
    (_trial(two_studies / "bad") / "metadata.json").write_text(nested)
    client, body = _only_good_is_served(two_studies)
    assert "nested too deeply" in body["error"]
    (two_studies / "bad" / results.STUDY_MARKER).write_text(nested)
    client = make_client(two_studies)
    code, listing = get_json(client, "/runs")
    assert code == 200 and [r["name"] for r in listing["runs"]] == ["good"]
    assert len(listing["notes"]) == 1 and "'bad'" in listing["notes"][0] and "nested" in listing["notes"][0]
    assert get_json(client, "/study?run=bad")[0] == 422


def test_a_marker_that_is_not_an_object_is_skipped_with_a_note(two_studies):
    (two_studies / "bad" / results.STUDY_MARKER).write_text("[1]")
    listing = get_json(make_client(two_studies), "/runs")[1]
    assert [r["name"] for r in listing["runs"]] == ["good"] and "bad" in listing["notes"][0]


def test_links_out_of_the_study_are_not_followed(tmp_path):
    logdir = tmp_path / "logdir"
    _small(logdir / "bad")
    _small(logdir / "good")
    secret = tmp_path / "secret.txt"
    secret.write_text("step,val/classification_error\n1,0.0\nTOP-SECRET-LINE\n")
    target = _trial(logdir / "bad") / "measurements.csv"
    target.unlink()
    os.symlink(secret, target)
    client = make_client(logdir)
    response = client.get("/data/plugin/tfbsz/study?run=bad")
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "TOP-SECRET" not in text and "outside" in text
    assert get_json(client, "/study?run=good")[0] == 200
    # the report and the analysis read through the same reader
    with pytest.raises(ConfigError, match="measurements.csv: leads outside"):
        load_workloads(str(logdir / "bad"))


def test_a_fifo_is_refused_without_blocking(two_studies):
    path = _trial(two_studies / "bad") / "measurements.csv"
    path.unlink()
    os.mkfifo(path)
    answer = {}
    worker = threading.Thread(target=lambda: answer.update(
        result=get_json(make_client(two_studies), "/study?run=bad")), daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "reading a FIFO blocked the request"
    code, body = answer["result"]
    assert code == 422 and "not a regular file" in body["error"]


def test_an_oversized_measurements_file_is_refused(two_studies):
    path = _trial(two_studies / "bad") / "measurements.csv"
    with open(path, "a") as f:
        f.write("9999999,0.5\n" * (file_reading.MAX_CSV_BYTES // 12 + 10))
    _, body = _only_good_is_served(two_studies)
    assert "more than the" in body["error"] and "bytes" in body["error"]


def test_a_study_larger_than_the_dashboard_loads_is_refused_with_a_pointer_to_the_report(tmp_path):
    _small(tmp_path / "s")
    files = _files.StudyFiles(str(tmp_path), max_study_bytes=1000)
    with pytest.raises(_files.StudyReadError, match="tfbsz.report"):
        files.load("s")


def test_studies_are_cached_until_a_file_changes_and_the_logdir_is_not_rescanned_per_request(tmp_path, monkeypatch):
    _small(tmp_path / "s")
    loads, scans, summaries = [], [], []
    real_load, real_find, real_summarize = results.load_study, results.find_study_roots, _scaling.summarize
    monkeypatch.setattr(results, "load_study", lambda root: loads.append(root) or real_load(root))
    monkeypatch.setattr(results, "find_study_roots", lambda logdir: scans.append(logdir) or real_find(logdir))
    monkeypatch.setattr(_scaling, "summarize", lambda *a: summaries.append(a) or real_summarize(*a))
    client = make_client(tmp_path)
    first = get_json(client, "/study?run=s")
    for _ in range(3):
        assert get_json(client, "/study?run=s") == first
        get_json(client, "/runs")
    assert len(loads) == 1 and len(scans) == 1 and len(summaries) == 1
    assert get_json(client, "/study?run=s&metric=val/accuracy&threshold=0.5")[0] == 200
    assert len(loads) == 1 and len(summaries) == 2  # another target: computed again from the cached study
    _edit_metadata(tmp_path / "s", lambda m: m["parameters"].update(learning_rate=0.5), batch_size=16, trial=0)
    changed = get_json(client, "/study?run=s")[1]
    assert len(loads) == 2
    assert next(t for t in changed["trials"] if (t["batch_size"], t["trial_id"]) == (16, 0))["parameters"][
        "learning_rate"] == 0.5


def test_new_studies_appear_after_the_rescan_interval(tmp_path):
    files = _files.StudyFiles(str(tmp_path), rescan_seconds=3600)
    assert files.runs()[0] == {}
    _small(tmp_path / "s")
    assert files.runs()[0] == {}  # within the interval: the scan is reused
    files.rescan_seconds = 0
    assert list(files.runs()[0]) == ["s"]


def test_run_names_with_colons_or_longer_than_512_characters_open(tmp_path):
    long_name = "/".join(["x" * 200] * 3) + "/study"
    for name in ("a:b", long_name):
        _small(tmp_path / name)
    client = make_client(tmp_path)
    listed = [r["name"] for r in get_json(client, "/runs")[1]["runs"]]
    assert sorted(listed) == sorted(["a:b", long_name])
    for name in listed:
        assert get_json(client, f"/study?run={name}")[0] == 200, name


def test_run_names_that_cannot_be_opened_are_not_listed(tmp_path):
    _small(tmp_path / "line\nbreak")
    _small(tmp_path / "fine")
    client = make_client(tmp_path)
    listing = get_json(client, "/runs")[1]
    assert [r["name"] for r in listing["runs"]] == ["fine"]
    assert "control characters" in listing["notes"][0]
    assert get_json(client, "/study?run=line%0Abreak")[0] == 400
