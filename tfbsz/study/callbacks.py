"""`StepsToTarget`: measure how many steps a training run needs to reach a target.

Use it in any `model.fit`. Every `eval_every` optimizer updates it evaluates the model on
held-out data, records a measurement (step, examples seen, wall time, learning rate, mean
training loss since the last evaluation, held-out metrics), and stops training at the first
evaluation whose target metric strictly beats the threshold (Shallue et al.'s definition).
At the end, `outcome` is `"reached"`, `"missed"` (budget spent) or `"diverged"` (the loss
became NaN or infinite).

It does not make `fit` wait for the device after every step. Keras turns a step's logs into Python
numbers (a device sync) before it calls a callback's `on_train_batch_end`, unless every callback
is `async_safe`, in which case it calls them on worker threads and goes on dispatching steps.
`StepsToTarget` is `async_safe`: there it only files the logs, and the thread that runs `fit`
makes each measurement at the start of the next step (or at the end of the epoch or of training),
from the weights and logs after exactly `step` updates, so the measurements are the same. When a
measurement decides the run (target reached, diverged) in that mode, `fit` has already been handed
the next step and makes that one more update before it stops. With another callback that has a
per-batch hook (or on TensorFlow, where Keras never dispatches callbacks asynchronously) each step
is measured at its end, as before.

Example:

>>> import numpy as np, keras
>>> from tfbsz.study.callbacks import StepsToTarget
>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=(512, 4)).astype("float32")
>>> y = (x[:, 0] > 0).astype("int32")
>>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
>>> model.compile(optimizer=keras.optimizers.SGD(0.5),
...     loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
...     metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
>>> stt = StepsToTarget((x, y), "val/classification_error", 0.1, eval_every=5,
...     max_steps=200, batch_size=32)
>>> _ = model.fit(x, y, batch_size=32, epochs=50, callbacks=[stt], verbose=0)
>>> stt.outcome, stt.steps_to_target is not None and stt.steps_to_target <= 200
('reached', True)
"""

import math
import threading
import time

import keras
import numpy as np

from tfbsz.core import checks
from tfbsz.core.targets import Target
from tfbsz.study.eval_schedule import AUTO, next_evaluation

__all__ = ["StepsToTarget", "measurement_from_logs"]

FILED_LOGS_TIMEOUT_S = 3600.0  # a step whose logs take longer than this has hung
_ACCURACY_NAMES = ("accuracy", "sparse_categorical_accuracy", "acc", "compile_metrics")


def measurement_from_logs(logs, prefix):
    """Maps Keras metric logs to tfbsz's measurement columns under `prefix` ("val" or "train").

    `cross_entropy` (or, failing that, `loss`) becomes `<prefix>/cross_entropy_error`;
    an accuracy metric gives `<prefix>/accuracy` and `<prefix>/classification_error`;
    every other metric (e.g. `loss`, which includes label smoothing) is kept as `<prefix>/<name>`.
    """
    row = {}
    mapped = {"cross_entropy", *_ACCURACY_NAMES}
    for name, value in logs.items():
        if name in mapped:
            continue
        try:
            value = float(value)
        except (TypeError, ValueError):
            continue
        row[f"{prefix}/{name}"] = value
    ce = logs.get("cross_entropy", logs.get("loss"))
    if ce is not None:
        row[f"{prefix}/cross_entropy_error"] = float(ce)
    for name in _ACCURACY_NAMES:
        if name in logs:
            accuracy = float(logs[name])
            row[f"{prefix}/accuracy"] = accuracy
            row[f"{prefix}/classification_error"] = 1.0 - accuracy
            break
    return row


class StepsToTarget(keras.callbacks.Callback):
    """Evaluates every `eval_every` updates and stops at the first one that beats the target.

    Args:
        eval_data: held-out `(x, y)` arrays (or anything `model.evaluate` takes as `x` with
            `y=None`, such as a dataset of batches).
        target_metric: the measurement column to compare, e.g. `"val/classification_error"`,
            `"val/cross_entropy_error"` or `"val/accuracy"` (see `measurement_from_logs`).
        threshold: the target value; a measurement reaches it when strictly better.
        direction: `"min"` or `"max"`. Defaults to the direction the metric's name implies
            (`tfbsz.core.targets.default_direction`: accuracy-like names `"max"`, error and loss
            `"min"`).
        eval_every: evaluate every this many optimizer updates, or `"auto"`: a grid whose spacing
            is 5% of the step count (at least 1/200 of `max_steps`), so rounding to the next
            evaluation costs the same share at every batch size (`tfbsz.study.eval_schedule`).
            Defaults to `100`.
        max_steps: the budget in optimizer updates; training stops there. Defaults to None
            (no budget: `fit`'s own length decides).
        batch_size: the global batch size, to record examples seen. Defaults to None.
        accumulation_steps: micro-batches per optimizer update under gradient accumulation;
            `fit` calls the batch hooks once per micro-batch. Defaults to `1`.
        eval_batch_size: the batch size for evaluation. Defaults to `256`.
        on_measurement: optional callable receiving each measurement dict as it is made.
        extra_measurements: optional callable `(model) -> dict` merged into each measurement
            (e.g. a gradient-noise-scale estimate).
        throughput: optional callable `(examples_per_s) -> dict` merged into each measurement, given
            the training throughput since the previous measurement (evaluation time excluded; the
            first window includes compilation), e.g. `tfbsz.models.efficiency.measurement_throughput`'s
            tokens/s and MFU. Needs `batch_size`.

    Attributes:
        outcome: `"reached"`, `"missed"`, `"diverged"`, or None while training.
        steps_to_target: the update count of the first evaluation that beat the target.
        measurements: the list of measurement dicts, in step order.
        best_value: the best value of `target_metric` seen.
        reached_at_first_evaluation: True when the target was beaten at the first evaluation:
            steps to result is then only an upper bound (evaluate earlier).
    """

    # Keras may call on_train_batch_end on worker threads (see the module docstring).
    async_safe = True

    def __init__(
        self,
        eval_data,
        target_metric,
        threshold,
        direction=None,
        eval_every=100,
        max_steps=None,
        batch_size=None,
        accumulation_steps=1,
        eval_batch_size=256,
        on_measurement=None,
        extra_measurements=None,
        throughput=None,
    ):
        super().__init__()
        if not isinstance(target_metric, str) or "/" not in target_metric:
            raise ValueError(
                "target_metric: expected a measurement column such as 'val/classification_error', "
                f"got {checks.describe(target_metric)}"
            )
        target = Target(target_metric, threshold, direction)
        eval_every = eval_every if eval_every == AUTO else checks.integer(eval_every, "eval_every")
        accumulation_steps = checks.integer(accumulation_steps, "accumulation_steps")
        eval_batch_size = checks.integer(eval_batch_size, "eval_batch_size")
        max_steps = checks.integer(max_steps, "max_steps", allow_none=True)
        self.eval_data = eval_data
        self.target = target
        self.target_metric = target.metric
        self.threshold = target.threshold
        self.direction = target.direction
        self.eval_every = eval_every
        self.max_steps = max_steps
        self.batch_size = batch_size
        self.accumulation_steps = accumulation_steps
        self.eval_batch_size = eval_batch_size
        self.on_measurement = on_measurement
        self.extra_measurements = extra_measurements
        self.throughput = throughput
        self.reset()

    def reset(self):
        """Forgets all measurements, so the callback can be used for another run."""
        self.outcome = None
        self.steps_to_target = None
        self.measurements = []
        self.best_value = None
        self._micro_steps = 0
        self._epoch_base = 0
        self._count_base = 0  # batches of this epoch before the last reset of the metrics
        self._next_eval = next_evaluation(0, self.eval_every, self.max_steps)
        self.reached_at_first_evaluation = False
        self._window_sums = {}
        self._window_start = {}
        self._last_cum = {}
        self._start_time = None
        self._window_clock = None  # when the current training window began (after the last evaluation)
        self._window_updates = 0
        self._driver = None  # the thread that runs fit (on_train_begin's)
        self._filed = threading.Condition()
        self._filed_logs = (0, {})  # (micro-step, logs): the latest logs filed by a worker thread

    # ------------------------------------------------------------------ comparisons

    def beats(self, value):
        """Whether `value` strictly beats the threshold in this callback's direction."""
        return self.target.beats(value)

    @property
    def updates(self):
        """Optimizer updates taken so far."""
        return self._micro_steps // self.accumulation_steps

    # ------------------------------------------------------------------ hooks

    def on_train_begin(self, logs=None):
        self._driver = threading.get_ident()
        if self._start_time is None:
            self._start_time = time.perf_counter()
        if self._window_clock is None:
            self._window_clock = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_base = self._micro_steps
        self._count_base = 0
        self._last_cum = {}
        self._window_start = {}

    def on_train_batch_begin(self, batch, logs=None):
        self._catch_up(self._epoch_base + batch)

    def on_train_batch_end(self, batch, logs=None):
        micro_step = self._epoch_base + batch + 1
        if self._driver is None or threading.get_ident() == self._driver:
            self._after_micro_step(micro_step, logs or {})
            return
        with self._filed:  # a Keras worker thread: file the logs for the driver's _catch_up
            if micro_step > self._filed_logs[0]:
                self._filed_logs = (micro_step, dict(logs or {}))
            self._filed.notify_all()

    def on_epoch_end(self, epoch, logs=None):
        self._catch_up()

    def _catch_up(self, completed=None):
        """On the thread that runs `fit`, after worker threads filed the logs: measure if the
        `completed` micro-steps reached an evaluation (or the budget). Without `completed` (at the
        end of an epoch or of training, when Keras has waited for its workers), take in the
        latest filed logs whatever the step."""
        if self.outcome is not None:
            return
        if completed is None:
            filed_step, logs = self._filed_logs
            if filed_step > self._micro_steps:
                self._after_micro_step(filed_step, logs)
            return
        if completed <= self._micro_steps:
            return  # on_train_batch_end ran on this thread: nothing was left to do
        updates = completed // self.accumulation_steps
        if updates < self._next_eval and not (self.max_steps is not None and updates >= self.max_steps):
            self._micro_steps = completed
            return
        with self._filed:
            if not self._filed.wait_for(lambda: self._filed_logs[0] >= completed, timeout=FILED_LOGS_TIMEOUT_S):
                raise RuntimeError(
                    f"StepsToTarget: the logs of micro-step {completed} never reached on_train_batch_end "
                    f"({FILED_LOGS_TIMEOUT_S:.0f} s)"
                )
            _, logs = self._filed_logs
        self._after_micro_step(completed, logs)

    def _after_micro_step(self, micro_step, logs):
        if self.outcome is not None:
            return
        self._micro_steps = micro_step
        self._track_training_logs(micro_step - self._epoch_base, logs)
        updates = self.updates
        at_budget = self.max_steps is not None and updates >= self.max_steps
        if updates >= self._next_eval or at_budget:
            self._measure(updates)
            while self._next_eval <= updates:
                self._next_eval = next_evaluation(self._next_eval, self.eval_every, self.max_steps)
            if self.outcome is None and at_budget:
                self.outcome = "missed"
            if self.outcome is not None:
                self.model.stop_training = True

    def on_train_end(self, logs=None):
        self._catch_up()
        if self.outcome is None:
            if not self.measurements or self.measurements[-1]["step"] != self.updates:
                if self.updates > 0:
                    self._measure(self.updates)
            if self.outcome is None:
                self.outcome = "missed"

    # ------------------------------------------------------------------ internals

    def _track_training_logs(self, count_in_epoch, logs):
        # Keras reports running means since the metrics were last reset (epoch start, or our
        # reset after each evaluation); keep sums so that each measurement gets the mean over
        # the updates since the previous one.
        count = count_in_epoch - self._count_base
        for name, value in logs.items():
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
            self._last_cum[name] = (value, count)
            self._window_start.setdefault(name, (0.0, 0))

    def _window_means(self):
        means = {}
        for name, (mean, count) in self._last_cum.items():
            start_sum, start_count = self._window_start.get(name, (0.0, 0))
            total = mean * count
            n = count - start_count
            means[name] = (total - start_sum) / n if n > 0 else mean
            self._window_start[name] = (total, count)
        return means

    def _evaluate(self):
        data = self.eval_data
        if isinstance(data, tuple) and len(data) == 2:
            x, y = data
            logs = self.model.evaluate(x, y, batch_size=self.eval_batch_size, verbose=0, return_dict=True)
        else:
            logs = self.model.evaluate(data, verbose=0, return_dict=True)
        # `evaluate` runs on the same metric objects as `fit`: it resets them and leaves them
        # holding the evaluation's totals, which the next training batches' running means
        # would include (TensorFlow and JAX backends alike). Reset them so training logs
        # restart from the next batch, and restart the window bookkeeping to match.
        self.model.reset_metrics()
        self._count_base = self._micro_steps - self._epoch_base
        self._last_cum = {}
        self._window_start = {}
        return logs

    def _measure(self, updates):
        window_s = time.perf_counter() - (self._window_clock or time.perf_counter())
        window_examples = (updates - self._window_updates) * (self.batch_size or 0)
        row = {
            "step": int(updates),
            "examples_seen": int(updates * self.batch_size) if self.batch_size else None,
            "wall_time_s": time.perf_counter() - (self._start_time or time.perf_counter()),
            "learning_rate": _current_learning_rate(self.model),
        }
        train = measurement_from_logs(self._window_means(), "train")
        row.update(train)
        if self.throughput is not None and window_examples > 0 and window_s > 0:
            row.update(self.throughput(window_examples / window_s))
        train_loss = train.get("train/loss", train.get("train/cross_entropy_error"))
        diverged = train_loss is not None and not math.isfinite(train_loss)
        if not diverged:
            row.update(measurement_from_logs(self._evaluate(), "val"))
            value = row.get(self.target_metric)
            if value is not None and not math.isfinite(value):
                diverged = True
        if self.extra_measurements is not None and not diverged:
            row.update(self.extra_measurements(self.model) or {})
        self.measurements.append(row)
        if diverged:
            self.outcome = "diverged"
        else:
            if self.target_metric not in row:
                raise ValueError(
                    f"target metric {self.target_metric!r} is not among the measurements "
                    f"{sorted(k for k in row if '/' in k)}; compile the model with the metric it needs"
                )
            value = row[self.target_metric]
            if self.target.better(value, self.best_value):
                self.best_value = value
            if self.beats(value) and self.steps_to_target is None:
                self.steps_to_target = int(updates)
                self.outcome = "reached"
                self.reached_at_first_evaluation = len(self.measurements) == 1
        if self.on_measurement is not None:
            self.on_measurement(row)
        self._window_clock = time.perf_counter()
        self._window_updates = updates


def _current_learning_rate(model):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return None
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    try:
        return float(np.asarray(keras.ops.convert_to_numpy(inner.learning_rate)))
    except Exception:  # a user optimizer without a readable learning rate
        return None
