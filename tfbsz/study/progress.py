"""Progress of a running study: a live display on a terminal, plain lines elsewhere.

`make_progress(mode)` returns a listener with the hooks the study calls:
`study_begin`, `batch_size_begin`, `trial_begin`, `measurement`, `trial_end`, `study_end`,
`message`. `mode` is `"rich"` (live panel: batch size, trial, step, metric, ETA), `"plain"` (one
line per event, for logs and CI), `"none"`, or `"auto"` (rich when stdout is a terminal).

Trials of a cohort run at the same time: `measurement(row, trial_id=...)` names its trial, and
every line stays the trial's own, as when trials run one at a time. The rich panel shows a bar
for each running trial, up to `RichProgress.MAX_BARS`.

Example:

>>> import io
>>> from tfbsz.study.progress import PlainProgress
>>> out = io.StringIO()
>>> p = PlainProgress(stream=out, metric="val/accuracy")
>>> p.study_begin([16, 32], trials=2)
>>> p.trial_begin(16, "0", {"optimizer.learning_rate": 0.1}, max_steps=100)
>>> p.measurement({"step": 50, "val/accuracy": 0.75})
>>> print(out.getvalue().strip().splitlines()[-1])
[bs 16 trial 0] step 50/100  val/accuracy=0.7500
"""

import sys
import time

__all__ = ["make_progress", "PlainProgress", "RichProgress", "NullProgress"]


def _format_params(parameters):
    parts = []
    for key, value in parameters.items():
        short = key.split(".")[-1]
        parts.append(f"{short}={value:.4g}" if isinstance(value, float) else f"{short}={value}")
    return ", ".join(parts)


class NullProgress:
    """Shows nothing."""

    def __init__(self, metric=None):
        self.metric = metric
        self.total_trials = 0
        self.done_trials = 0
        self.started = time.perf_counter()

    def study_begin(self, batch_sizes, trials):
        """`trials` is the number per batch size, or a dict {batch size: number}."""
        counts = trials if isinstance(trials, dict) else {b: trials for b in batch_sizes}
        self.total_trials = sum(counts[b] for b in batch_sizes)
        self.started = time.perf_counter()

    def batch_size_begin(self, batch_size, done_trials):
        self.done_trials += done_trials

    def trial_begin(self, batch_size, trial_id, parameters, max_steps):
        pass

    def measurement(self, row, trial_id=None):
        """A measurement of trial `trial_id` (default: the trial begun last)."""

    def trial_end(self, batch_size, trial_id, result):
        self.done_trials += 1

    def study_end(self, summary):
        pass

    def message(self, text):
        pass

    def eta_seconds(self):
        """Seconds left, from the mean time of the trials run in this process."""
        ran = getattr(self, "_ran", 0)
        if not ran or self.total_trials <= self.done_trials:
            return None
        per_trial = (time.perf_counter() - self.started) / ran
        return per_trial * (self.total_trials - self.done_trials)


class PlainProgress(NullProgress):
    """One line per event, flushed at once: for logs, pipes and CI."""

    def __init__(self, stream=None, metric=None):
        super().__init__(metric)
        self.stream = stream or sys.stdout
        self._running = {}  # trial id -> (label, max_steps)
        self._last = None
        self._ran = 0

    def _print(self, text):
        print(text, file=self.stream, flush=True)

    def message(self, text):
        self._print(text)

    def study_begin(self, batch_sizes, trials):
        super().study_begin(batch_sizes, trials)
        each = f"{trials} trials each" if not isinstance(trials, dict) else f"{self.total_trials} trials in all"
        self._print(f"study: batch sizes {', '.join(map(str, batch_sizes))}; {each}")

    def trial_begin(self, batch_size, trial_id, parameters, max_steps):
        label = f"[bs {batch_size} trial {trial_id}]"
        self._running[trial_id] = (label, max_steps)
        self._last = trial_id
        self._print(f"{label} start  {_format_params(parameters)}  (budget {max_steps} steps)")

    def measurement(self, row, trial_id=None):
        label, max_steps = self._running.get(self._last if trial_id is None else trial_id, ("", None))
        value = row.get(self.metric)
        shown = f"{self.metric}={value:.4f}" if isinstance(value, float) else f"{self.metric}={value}"
        self._print(f"{label} step {row.get('step')}/{max_steps}  {shown}")

    def trial_end(self, batch_size, trial_id, result):
        super().trial_end(batch_size, trial_id, result)
        self._ran += 1
        label, _ = self._running.pop(trial_id, (f"[bs {batch_size} trial {trial_id}]", None))
        steps = f" in {result.steps_to_target} steps" if result.steps_to_target is not None else ""
        eta = self.eta_seconds()
        eta = f"  ETA {eta / 60:.1f} min" if eta is not None else ""
        self._print(
            f"{label} {result.outcome}{steps}  ({result.wall_time_s:.1f} s; "
            f"{self.done_trials}/{self.total_trials} trials){eta}"
        )


class RichProgress(NullProgress):
    """A live panel (rich): study progress bar plus each running trial's step and metric."""

    MAX_BARS = 8  # more running trials (a large cohort) than this show in the study bar only

    def __init__(self, metric=None, console=None):
        super().__init__(metric)
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.console = console or Console()
        self._ran = 0
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self._study_task = None
        self._trial_tasks = {}  # trial id -> rich task id
        self._running_ids = set()
        self._last = None

    def message(self, text):
        self.console.print(text)

    def study_begin(self, batch_sizes, trials):
        super().study_begin(batch_sizes, trials)
        self.progress.start()
        self._study_task = self.progress.add_task("study", total=self.total_trials, info="")

    def batch_size_begin(self, batch_size, done_trials):
        super().batch_size_begin(batch_size, done_trials)
        self.progress.update(self._study_task, completed=self.done_trials)

    def trial_begin(self, batch_size, trial_id, parameters, max_steps):
        for finished in [t for t in self._trial_tasks if t not in self._running_ids]:
            self.progress.remove_task(self._trial_tasks.pop(finished))
        self._running_ids.add(trial_id)
        self._last = trial_id
        if len(self._trial_tasks) < self.MAX_BARS:
            self._trial_tasks[trial_id] = self.progress.add_task(
                f"bs {batch_size} trial {trial_id}", total=max_steps, info=_format_params(parameters)
            )

    def measurement(self, row, trial_id=None):
        task = self._trial_tasks.get(self._last if trial_id is None else trial_id)
        if task is None:
            return
        value = row.get(self.metric)
        shown = f"{self.metric}={value:.4f}" if isinstance(value, float) else ""
        self.progress.update(task, completed=row.get("step", 0), info=shown)

    def trial_end(self, batch_size, trial_id, result):
        super().trial_end(batch_size, trial_id, result)
        self._running_ids.discard(trial_id)
        self._ran += 1
        eta = self.eta_seconds()
        info = f"ETA {eta / 60:.1f} min" if eta is not None else ""
        self.progress.update(self._study_task, completed=self.done_trials, info=info)
        steps = f" in {result.steps_to_target} steps" if result.steps_to_target is not None else ""
        self.progress.console.print(f"  bs {batch_size} trial {trial_id}: {result.outcome}{steps}")

    def study_end(self, summary):
        for task in self._trial_tasks.values():
            self.progress.remove_task(task)
        self._trial_tasks = {}
        self.progress.stop()


def make_progress(mode="auto", metric=None, stream=None):
    """A progress listener for `mode` (`auto`, `rich`, `plain`, `none`)."""
    stream = stream or sys.stdout
    if mode == "auto":
        mode = "rich" if stream.isatty() else "plain"
    if mode == "rich":
        return RichProgress(metric=metric)
    if mode == "plain":
        return PlainProgress(stream=stream, metric=metric)
    return NullProgress(metric=metric)
