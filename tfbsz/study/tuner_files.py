"""KerasTuner's project files, written atomically and read back whatever a crash left.

KerasTuner 1.4.8 writes `oracle.json`, every `trial_<id>/trial.json` and the tuner's
`<tuner_id>.json` by truncating the file and writing it again, so a study killed at that moment
leaves an empty or half-written file, and `--resume` then stops with a `JSONDecodeError`. Its
files are also written one after the other (a trial's file, then the oracle's), so a kill in
between leaves the oracle one step behind its trials: a finished trial is run again, or a trial
that has started is forgotten and its metaparameters are given to the next trial id.

`DurableOracle` and `DurableTuner` (base classes of tfbsz's oracle and tuner) fix both:

* every file is written with `tfbsz.records.results.atomic_write` (a whole new file, fsync'd,
  then renamed over the old one);
* `reload` reads what is there: an unreadable `oracle.json` is rebuilt from the trials on disk,
  an unreadable `trial.json` is rebuilt from the trial's `metadata.json` in the batch size's
  folder (or, when the trial left nothing, is run again with the next point of the search), and
  the oracle is reconciled with its trials (a trial whose file says it ended is not run again; a
  trial the oracle does not know as ended goes back in the queue; every trial's values count as
  tried, so the search does not hand them out again).

A trial that finished on disk but that the oracle had not recorded is run again only in name:
`tfbsz.study.recorded_trials` reads it back instead of training it.

Example (an `oracle.json` cut short, as a kill during KerasTuner's own write leaves it):

>>> import tempfile, pathlib
>>> import keras_tuner as kt
>>> from tfbsz.study.tuning import QuasiRandomOracle
>>> def oracle():
...     hp = kt.HyperParameters()
...     _ = hp.Float("lr", 1e-3, 1.0, sampling="log")
...     made = QuasiRandomOracle(objective=kt.Objective("score", "min"), max_trials=5,
...                              hyperparameters=hp, seed=0)
...     made.verbose = 0
...     return made
>>> project = tempfile.mkdtemp()
>>> first = oracle(); first._set_project_dir(project, "p")
>>> trial = first.create_trial("tuner0")
>>> path = pathlib.Path(project, "p", "oracle.json")
>>> _ = path.write_text(path.read_text()[:20])   # truncated
>>> again = oracle(); again._set_project_dir(project, "p"); again.reload()
>>> resumed = again.create_trial("tuner0")   # the interrupted trial first, same id and values
>>> resumed.trial_id, resumed.hyperparameters.values == trial.hyperparameters.values
('0', True)
"""

import json
import pathlib
import sys

import keras_tuner as kt
from keras_tuner.src.engine import trial as trial_module

from tfbsz.records import results

__all__ = ["DurableOracle", "DurableTuner", "read_state", "write_state"]

_FINISHED = (trial_module.TrialStatus.COMPLETED, trial_module.TrialStatus.FAILED)


def write_state(path, state):
    """Writes a KerasTuner state dict as JSON, atomically and durably."""
    text = json.dumps(state)
    results.atomic_write(path, lambda f: f.write(text))


def read_state(path):
    """The JSON object in `path`, or None when the file is missing, unreadable or not an object."""
    try:
        with open(path) as f:
            state = json.load(f)
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def _id_order(trial_id):
    return (len(trial_id), trial_id)  # KerasTuner's ids are zero-padded numbers


class DurableOracle(kt.Oracle):
    """A KerasTuner `Oracle` whose files survive a crash (see the module docstring).

    Attributes:
        results_dir: the folder with tfbsz's trial folders (`<results_dir>/<trial_id>/
            metadata.json`), used to rebuild an unreadable `trial.json`; set by `DurableTuner`.
        recovery_notes: what `reload` had to repair, one line each (also printed to stderr).
    """

    results_dir = None

    def save(self):
        write_state(self._get_oracle_fname(), self.get_state())

    def _save_trial(self, trial):
        write_state(pathlib.Path(self._get_trial_dir(trial.trial_id)) / "trial.json", trial.get_state())

    # ------------------------------------------------------------------ reload

    def reload(self):
        self.recovery_notes = []
        project = pathlib.Path(self._project_dir)
        unreadable = []
        for path in sorted(project.glob("trial_*/trial.json")):
            trial = self._read_trial(path)
            if trial is None:
                unreadable.append(path.parent.name[len("trial_"):])
            else:
                self.trials[trial.trial_id] = trial
        state = read_state(self._get_oracle_fname())
        if state is None:
            state = self._state_from_trials()
            self._note(f"{self._get_oracle_fname()} was unreadable; search state rebuilt from "
                       f"{len(self.trials)} trial file(s)")
        else:
            state = self._known_trials_only(state)
        try:
            self.set_state(state)
        except (KeyError, TypeError) as e:
            raise RuntimeError(
                f"Error reloading `Oracle` from existing project at {self._project_dir} ({e!r})"
            ) from e
        # As KerasTuner does: trials that were running go back in the queue.
        for trial in self.ongoing_trials.values():
            self._retry_queue.append(trial.trial_id)
        self.ongoing_trials = {}
        self._rebuild_unreadable(unreadable)
        self._reconcile()
        self.save()

    def _note(self, text):
        self.recovery_notes.append(text)
        print(f"tfbsz: note: {text}", file=sys.stderr)

    @staticmethod
    def _read_trial(path):
        state = read_state(path)
        if state is None:
            return None
        try:
            trial = trial_module.Trial.from_state(state)
        except (KeyError, TypeError, ValueError):
            return None
        return trial if isinstance(trial.trial_id, str) and trial.trial_id else None

    def _state_from_trials(self):
        """Oracle state rebuilt from the trials alone (`_reconcile` completes it)."""
        state = self.get_state()  # a fresh oracle's: the seed, the space, subclass keys
        ids = sorted(self.trials, key=_id_order)
        ended = [i for i in ids if self.trials[i].status in _FINISHED]
        state.update({"ongoing_trials": {}, "start_order": ids, "end_order": ended,
                      "run_times": {i: 1 for i in ended}, "retry_queue": [], "tried_so_far": [],
                      "id_to_hash": {}})
        if "qmc_cursor" in state:
            # A sequence oracle continues after the points its trials took; points skipped as
            # duplicates before are duplicates again, so the next trial gets the same point.
            state["qmc_cursor"] = len(self.trials)
        return state

    def _known_trials_only(self, state):
        state = dict(state)
        known = set(self.trials)
        ongoing = state.get("ongoing_trials") or {}
        state["ongoing_trials"] = {tuner: i for tuner, i in ongoing.items() if i in known}
        for key in ("start_order", "end_order", "retry_queue"):
            state[key] = [i for i in state.get(key) or [] if i in known]
        return state

    def _values_on_disk(self, trial_id):
        """The searched values recorded in the trial's `metadata.json`, or None."""
        from tfbsz.study import trial_ids

        if self.results_dir is None:
            return None
        try:
            path = trial_ids.trial_dir(self.results_dir, trial_id) / "metadata.json"
        except Exception:
            return None
        metadata = read_state(path)
        parameters = metadata.get("parameters") if metadata else None
        names = [hp.name for hp in self.hyperparameters.space]
        if not isinstance(parameters, dict) or any(name not in parameters for name in names):
            return None
        return {name: parameters[name] for name in names}

    def _rebuild_unreadable(self, trial_ids):
        """Trials whose `trial.json` was unreadable: rebuilt and queued to run (or be kept) again."""
        for trial_id in sorted(trial_ids, key=_id_order):
            values = self._values_on_disk(trial_id)
            source = "its metadata.json"
            if values is None:
                response = self.populate_space(trial_id)
                if response.get("status") != trial_module.TrialStatus.RUNNING:
                    hps = self.hyperparameters.copy()
                    trial = trial_module.Trial(hps, trial_id=trial_id, status=trial_module.TrialStatus.FAILED,
                                               message="trial.json was unreadable and the search has no point left")
                    self.trials[trial_id] = trial
                    self._save_trial(trial)
                    self._note(f"trial {trial_id}: trial.json was unreadable; recorded as failed")
                    continue
                values, source = response["values"], "the next point of the search (it had not finished)"
            hps = self.hyperparameters.copy()
            hps.values = dict(values)
            trial = trial_module.Trial(hps, trial_id=trial_id, status=trial_module.TrialStatus.RUNNING)
            self.trials[trial_id] = trial
            self._save_trial(trial)
            self._note(f"trial {trial_id}: trial.json was unreadable; rebuilt from {source}")

    def _reconcile(self):
        """Makes the oracle's bookkeeping agree with its trials' own files."""
        for trial_id in sorted(self.trials, key=_id_order):
            trial = self.trials[trial_id]
            if trial.status in _FINISHED:
                # Ended, but the oracle's file was written before it heard so.
                while trial_id in self._retry_queue:
                    self._retry_queue.remove(trial_id)
                if trial_id not in self.end_order:
                    self.end_order.append(trial_id)
                    self._run_times[trial_id] = max(1, self._run_times[trial_id])
            elif trial_id not in self._retry_queue:
                # Started after the oracle's file was last written: run it (again).
                trial.status = trial_module.TrialStatus.RUNNING
                self._retry_queue.append(trial_id)
            if trial_id not in self.start_order:
                self.start_order.append(trial_id)
            self._record_values(trial)


class DurableTuner(kt.Tuner):
    """A KerasTuner `Tuner` whose own file and whose oracle's files survive a crash."""

    def save(self):
        if not self._is_worker():
            self.oracle.save()
        write_state(self._get_tuner_fname(), self.get_state())

    def reload(self):
        if not self._is_worker():
            if isinstance(self.oracle, DurableOracle):
                self.oracle.results_dir = getattr(self.hypermodel, "trial_root", None)
            self.oracle.reload()
        self.set_state(read_state(self._get_tuner_fname()) or {})
