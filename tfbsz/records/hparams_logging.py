"""Write trials' metaparameters and outcomes for TensorBoard's HParams tab, without TensorFlow.

TensorBoard's `hp.hparams()` needs TensorFlow (it writes through `tf.summary`), but its
`hparams_pb()` / `hparams_config_pb()` build plain protos. This module writes those protos, the
metric scalars and a session-end record into event files with TensorBoard's own `RecordWriter`
over an ordinary Python file, so it works on the JAX backend with no TensorFlow installed, and
never imports TensorFlow even when it is installed.

Layout: the experiment config (which parameters and metrics the tab lists) goes into an event file
directly in `logdir`; each trial is one run, the sub-folder `logdir/<trial_id>`, holding its
parameter values, one scalar per metric at step 0, and its status.

Example:

>>> import tempfile
>>> from tfbsz import hparams_logging
>>> logdir = tempfile.mkdtemp()
>>> _ = hparams_logging.log_study_hparams_config(logdir, ["batch_size", "learning_rate"],
...                                              ["steps_to_target", "reached"])
>>> path = hparams_logging.log_trial_hparams(logdir, "bs_64/00",
...     {"batch_size": 64, "learning_rate": 0.1}, {"steps_to_target": 420, "reached": 1})
>>> path.parent.relative_to(logdir).as_posix()
'bs_64/00'
"""

import itertools
import math
import os
import pathlib
import socket
import time

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
from tensorboard.plugins.hparams import summary_v2 as hp
from tensorboard.plugins.scalar import metadata as scalar_metadata
from tensorboard.summary.writer.record_writer import RecordWriter
from tensorboard.util import tensor_util

from tfbsz.core.errors import ConfigError

__all__ = ["STATUS_BY_TRIAL_STATUS", "BY_EXAMPLES_SUFFIX", "log_study_hparams_config", "log_trial_hparams",
           "log_trial_scalars"]

# Tag suffix of the copy of each measurement plotted against examples seen instead of steps.
BY_EXAMPLES_SUFFIX = "/by_examples"
# Measurement columns that are x axes (or bookkeeping), not metrics: never written as scalars.
_AXIS_COLUMNS = frozenset({"step", "examples_seen", "wall_time_s"})

# Trial status in metadata.json (Shallue's names) -> HParams session status.
STATUS_BY_TRIAL_STATUS = {
    "COMPLETE": api_pb2.STATUS_SUCCESS,
    "INFEASIBLE": api_pb2.STATUS_FAILURE,
    "INCOMPLETE": api_pb2.STATUS_RUNNING,
}

_file_counter = itertools.count()


def log_study_hparams_config(logdir, parameter_names, metric_names, domains=None, descriptions=None):
    """Declares the parameters and metrics the HParams tab shows for the study in `logdir`.

    Args:
        logdir: the study's TensorBoard folder (e.g. `<output>/tensorboard`).
        parameter_names: metaparameter names, e.g. `["batch_size", "learning_rate"]`.
        metric_names: metric tags written by `log_trial_hparams`, e.g. `["steps_to_target"]`.
        domains: optional `{name: (low, high)}` for numeric ranges or `{name: [values]}` for
            discrete ones. Without a domain the tab infers the values from the trials.
        descriptions: optional `{name: text}` for parameters and metrics.

    Returns:
        The path of the event file written (a `pathlib.Path`).
    """
    domains, descriptions = dict(domains or {}), dict(descriptions or {})
    hparams = [hp.HParam(str(n), _domain(n, domains.get(n)), description=descriptions.get(n))
               for n in parameter_names]
    metrics = [hp.Metric(str(m), description=descriptions.get(m)) for m in metric_names]
    summary = hp.hparams_config_pb(hparams, metrics, time_created_secs=time.time())
    return _write_events(pathlib.Path(logdir), [_event(summary)])


def log_trial_hparams(logdir, trial_id, parameters, metrics, status="COMPLETE", start_time_secs=None):
    """Writes one trial's metaparameters, metrics and status as the run `logdir/<trial_id>`.

    Args:
        logdir: the study's TensorBoard folder (the same one given to `log_study_hparams_config`).
        trial_id: the trial's name, unique within the study; may contain `/` to group trials,
            e.g. `"bs_64/03"` (trial ids restart at each batch size, so include it).
        parameters: `{name: value}`; values are bool, int, float or str (NumPy scalars are
            converted; None is left out; anything else is written as its `str`).
        metrics: `{tag: number}`, e.g. `{"steps_to_target": 420, "reached": 1}`; None and
            non-finite values are left out (the tab shows them as empty).
        status: `COMPLETE`, `INFEASIBLE` or `INCOMPLETE` (metadata.json's status).
        start_time_secs: trial start time; defaults to now.

    Returns:
        The path of the event file written (a `pathlib.Path`).

    Raises:
        ConfigError: a `trial_id` that is empty, absolute or contains `..`, or an unknown `status`.
    """
    run_dir = pathlib.Path(logdir) / _checked_trial_id(trial_id)
    if status not in STATUS_BY_TRIAL_STATUS:
        raise ConfigError(f"status: expected one of {sorted(STATUS_BY_TRIAL_STATUS)}, got {status!r}")
    values = {str(k): _hparam_value(v) for k, v in parameters.items() if _hparam_value(v) is not None}
    start = time.time() if start_time_secs is None else float(start_time_secs)
    events = [_event(hp.hparams_pb(values, trial_id=str(trial_id), start_time_secs=start), wall_time=start)]
    for tag, value in metrics.items():
        number = _finite_number(value)
        if number is not None:
            events.append(_event(_scalar_summary(str(tag), number)))
    events.append(_event(_session_end_summary(STATUS_BY_TRIAL_STATUS[status])))
    return _write_events(run_dir, events)


def log_trial_scalars(logdir, trial_id, measurements):
    """Writes one trial's measurements as TensorBoard scalars of the run `logdir/<trial_id>`.

    Every numeric measurement column (e.g. `val/cross_entropy_error`, `train/cross_entropy_error`,
    `learning_rate`, `train/gradient_noise_scale`) becomes one scalar series at
    `step` = the measurement's step (optimizer updates), plus a copy under the tag
    `<column>/by_examples` at step = `examples_seen`, so trials of different batch sizes can be
    compared on one x axis. `step`, `examples_seen` and `wall_time_s` are axes, not series;
    blank, non-numeric and non-finite cells are left out (a diverged trial's last row, say).
    Rows without an integer `step` are skipped; without `examples_seen` only the by-step copy is
    written. The event's wall time is the trial start plus `wall_time_s` when the row has it.

    Args:
        logdir: the study's TensorBoard folder (the one given to `log_trial_hparams`).
        trial_id: the run name, e.g. `"bs_64/03"` (same rules as `log_trial_hparams`).
        measurements: an iterable of dicts (measurements.csv rows, as `StepsToTarget` records them).

    Returns:
        The path of the event file written (a `pathlib.Path`), or None when there was nothing
        to write.

    Example:

    >>> import tempfile
    >>> logdir = tempfile.mkdtemp()
    >>> path = log_trial_scalars(logdir, "bs_16/0", [
    ...     {"step": 10, "examples_seen": 160, "val/cross_entropy_error": 1.5, "learning_rate": 0.1},
    ...     {"step": 20, "examples_seen": 320, "val/cross_entropy_error": 0.9, "learning_rate": None}])
    >>> path.parent.relative_to(logdir).as_posix()
    'bs_16/0'
    """
    run_dir = pathlib.Path(logdir) / _checked_trial_id(trial_id)
    rows = [row for row in (measurements or []) if isinstance(row, dict)]
    now = time.time()
    last_wall = max((_finite_number(r.get("wall_time_s")) or 0.0 for r in rows), default=0.0)
    start = now - last_wall
    events = []
    for row in rows:
        step = _integer_step(row.get("step"))
        if step is None:
            continue
        examples = _integer_step(row.get("examples_seen"))
        offset = _finite_number(row.get("wall_time_s"))
        wall_time = now if offset is None else start + offset
        for column, value in row.items():
            if not isinstance(column, str) or column in _AXIS_COLUMNS:
                continue
            number = _finite_number(value) if not isinstance(value, str) else None
            if number is None:
                continue
            events.append(_event(_scalar_summary(column, number), wall_time=wall_time, step=step))
            if examples is not None:
                events.append(_event(_scalar_summary(column + BY_EXAMPLES_SUFFIX, number),
                                     wall_time=wall_time, step=examples))
    if not events:
        return None
    return _write_events(run_dir, events)


def _integer_step(value):
    number = _finite_number(value) if not isinstance(value, (str, bool)) else None
    if number is None or number < 0 or number != int(number):
        return None
    return int(number)


def _checked_trial_id(trial_id):
    text = str(trial_id)
    parts = text.replace("\\", "/").split("/")
    if not text or os.path.isabs(text) or ".." in parts or "" in parts:
        raise ConfigError(f"trial_id: expected a relative name like 'bs_64/03', got {trial_id!r}")
    return text


def _domain(name, spec):
    if spec is None:
        return None
    if isinstance(spec, tuple) and len(spec) == 2:
        low, high = spec
        if all(isinstance(v, int) and not isinstance(v, bool) for v in spec):
            return hp.IntInterval(low, high)
        return hp.RealInterval(float(low), float(high))
    if isinstance(spec, (list, set, frozenset)):
        return hp.Discrete(sorted(spec))
    raise ConfigError(f"domains.{name}: expected (low, high) or a list of values, got {spec!r}")


def _hparam_value(value):
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if hasattr(value, "item"):
        return _hparam_value(value.item())
    return str(value)


def _finite_number(value):
    if isinstance(value, bool):
        return float(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _scalar_summary(tag, value):
    """A scalar the HParams tab reads as a metric (owned by the Scalars plugin, like tf.summary)."""
    summary_metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=scalar_metadata.PLUGIN_NAME),
        data_class=summary_pb2.DATA_CLASS_SCALAR,
    )
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(
        tag=tag, metadata=summary_metadata, tensor=tensor_util.make_tensor_proto(value, dtype="float32"))])


def _session_end_summary(status):
    """TensorBoard's `session_end_pb` rebuilt without TensorFlow (summary.py imports it)."""
    data = plugin_data_pb2.HParamsPluginData(
        session_end_info=plugin_data_pb2.SessionEndInfo(status=status, end_time_secs=time.time()))
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(
        tag=metadata.SESSION_END_INFO_TAG, metadata=metadata.create_summary_metadata(data),
        tensor=metadata.NULL_TENSOR)])


def _event(summary, wall_time=None, step=0):
    return event_pb2.Event(wall_time=time.time() if wall_time is None else wall_time, step=step, summary=summary)


def _write_events(directory, events):
    """Writes `events` to a new event file in `directory` (created if needed); returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    name = "events.out.tfevents.%010d.%s.%d.%d.tfbsz" % (
        time.time(), socket.gethostname(), os.getpid(), next(_file_counter))
    path = directory / name
    header = event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")
    with open(path, "wb") as f:
        writer = RecordWriter(f)
        for event in [header, *events]:
            writer.write(event.SerializeToString())
        writer.flush()
    return path
