"""Where a study's wall time goes, per batch size: training runs, compilation, set-up, the rest.

A `WallTimeLog` hears of every run of trials (one trial alone, or a cohort) through the
`on_run(size, results, seconds)` hook of `cohort_runs.train`, and after each batch size writes
`<output>/wall_time.json`:

    {"batch_sizes": {"32": {"search_s": 41.2, "runs_s": 39.8, "outside_runs_s": 1.4,
                            "compile_s": 24.9, "member_setup_s": 0.9, "runs": [[16, 39.8]],
                            "trials": 16, "host_fraction": 0.056}}}

* `search_s`: the batch size's whole search (`tuner.search`), wall clock;
* `runs_s`: inside the runs (set-up, compilation, training, evaluation, the trials' files);
* `outside_runs_s`: the rest: the oracle, KerasTuner's trial files, the records between runs;
* `compile_s`: tracing and compiling cohort programs (0 where they were compiled before);
* `member_setup_s`: building each cohort member's model and initial state;
* `host_fraction`: (`outside_runs_s` + `member_setup_s`) / `search_s`: the per-trial host work
  that is neither compilation nor training (issue 10 asks <= 5%). A trial trained alone
  (`run_trial`) builds, traces and compiles inside its run, so its set-up is in `runs_s` and not
  split out: there `compile_s` and `member_setup_s` are 0 and `host_fraction` counts only the
  time outside the runs.

Only runs of this process are counted: a resumed batch size reports the session that finished it.

Example:

>>> log = WallTimeLog(None)
>>> log.begin(32)
>>> log.on_run(2, [], 3.0)
>>> entry = log.end(32, search_s=4.0)
>>> entry["outside_runs_s"], entry["runs"]
(1.0, [[2, 3.0]])
"""

import pathlib

__all__ = ["WallTimeLog", "FILE_NAME"]

FILE_NAME = "wall_time.json"


class WallTimeLog:
    """Collects one batch size's runs at a time and writes `wall_time.json` under `root`.

    Args:
        root: the study folder, or None to keep the numbers in memory only.
    """

    def __init__(self, root):
        self.root = pathlib.Path(root) if root is not None else None
        self.entries = {}
        self._runs = []
        self._results = []

    def begin(self, batch_size):
        """Starts counting the runs of `batch_size`."""
        self._runs, self._results = [], []

    def on_run(self, size, results, seconds):
        """`cohort_runs.train`'s hook: a run of `size` trials took `seconds` (results None: retried)."""
        self._runs.append([int(size), round(float(seconds), 3)])
        self._results.append(list(results or []))

    def end(self, batch_size, search_s):
        """Records `batch_size`, whose search took `search_s` seconds; returns its entry."""
        runs = [[(r.extra or {}).get("cohort") or {} for r in results] for results in self._results]
        runs_s = sum(seconds for _, seconds in self._runs)
        setup_s = sum(c.get("setup_s", 0.0) for run in runs for c in run)
        # members of one cohort share its compile_s: taken once per run (the largest reported)
        compile_s = sum(max((c.get("compile_s", 0.0) for c in run), default=0.0) for run in runs)
        outside = max(0.0, search_s - runs_s)
        entry = {
            "search_s": round(search_s, 3),
            "runs_s": round(runs_s, 3),
            "outside_runs_s": round(outside, 3),
            "compile_s": round(compile_s, 3),
            "member_setup_s": round(setup_s, 3),
            "runs": list(self._runs),
            "trials": sum(len(results) for results in self._results),
            "host_fraction": round((outside + setup_s) / search_s, 4) if search_s > 0 else None,
        }
        self.entries[str(int(batch_size))] = entry
        if self.root is not None:
            from tfbsz.records.results import read_json, write_json

            path = self.root / FILE_NAME
            try:
                saved = read_json(path)
            except (OSError, ValueError):  # none yet (or unreadable: written anew)
                saved = {}
            saved = saved if isinstance(saved, dict) else {}
            batch_sizes = saved.get("batch_sizes")
            batch_sizes = dict(batch_sizes) if isinstance(batch_sizes, dict) else {}
            batch_sizes.update(self.entries)
            write_json(path, {"batch_sizes": batch_sizes})
        return entry
