"""`Study`: a batch-size study, from a config to steps-to-result per batch size on disk.

For every batch size the study tunes the metaparameters with KerasTuner (one project per batch
size, quasi-random search, objective = steps to the target) and records every trial in Shallue
et al.'s layout; the steps to result of a batch size is the fewest steps any of its trials
needed. With `search.metaparameters: rule`, only the base batch size is tuned and every other
batch size trains once with the base's best metaparameters scaled by `scaling.rule`, so the
rule can be compared with per-batch-size tuning.

Trials of a batch size train in cohorts of `search.parallel_trials` at once where the JAX cohort
engine can (`auto` measures the best size per batch size, see `tfbsz.study.cohort_size`), else one
at a time; either way each trial keeps its own seed, files and outcome.

A study resumes: finished trials are kept, a trial that was interrupted (alone or in a cohort) is
run again under the same id, and no trial is run twice.

Example:

>>> import tempfile
>>> from tfbsz import Study
>>> summary = Study({"data": {"name": "digits"}, "model": {"name": "mlp"},
...     "optimizer": {"name": "momentum", "learning_rate": 0.1, "momentum": 0.9},
...     "target": {"metric": "val/classification_error", "threshold": 0.3},
...     "budget": {"max_steps": 200}, "eval_every": 20, "batch_sizes": [32, 128],
...     "search": {"trials": 1}}, output=tempfile.mkdtemp() + "/s").run()
>>> [row["batch_size"] for row in summary["batch_sizes"]]
[32, 128]
"""

import os
import pathlib
import time

from tfbsz.records import legacy_layout, results
from tfbsz.core.config import OPEN_SECTIONS, Config, check_component_options, from_dict, load_config
from tfbsz.core.errors import ConfigError
from tfbsz.records.summary import summarize_batch_size, write_summary
from tfbsz.study.resume_checks import WORKLOAD_KEYS, check_output
from tfbsz.study.wall_time import WallTimeLog

__all__ = ["Study", "check_components", "WORKLOAD_KEYS"]


# The sections whose catalogues are read without importing Keras (the optimizers' and schedules'
# options come from Keras classes): `Study.check_before_keras` checks these before the backend loads.
KERAS_FREE_SECTIONS = ("data", "model", "strategy")


def _component_catalogue(section):
    import importlib

    module = {"data": "tfbsz.data", "model": "tfbsz.models", "optimizer": "tfbsz.optimizers",
              "schedule": "tfbsz.training.schedules", "strategy": "tfbsz.strategies"}[section]
    return importlib.import_module(module)


def check_components(cfg, sections=OPEN_SECTIONS):
    """Checks the named components of `sections` (by default data set, model, optimizer,
    schedule and strategy), their options and the search-space keys that name their options."""
    for section in sections:
        options = _component_catalogue(section).options(cfg[section].name)
        check_component_options(section, cfg[section], options)
    for path in cfg.search.space:
        section, _, key = path.partition(".")
        if section in sections and key not in ("learning_rate", "name"):
            valid = _component_catalogue(section).options(cfg[section].name)
            if key not in valid:
                raise ConfigError(
                    f"search.space.{path}: {section} '{cfg[section].name}' has no option '{key}'; "
                    f"valid options: {', '.join(sorted(valid)) or 'none'}"
                )


def _check_writable(root):
    if root.exists() and not root.is_dir():
        raise ConfigError(f"output: {root} exists and is not a folder")
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".tfbsz_write_test.{os.getpid()}"  # per process: workers start together
        probe.write_text("ok")
        probe.unlink(missing_ok=True)
    except OSError as e:
        raise ConfigError(f"output: cannot write to {root}: {e.strerror or e}") from None


class Study:
    """A batch-size study. See the module docstring.

    Args:
        config: a config dict (checked with `tfbsz.core.config.from_dict`) or a YAML path.
        output: the output folder; overrides the config's `output`.
        resume: continue the study already in `output`. Without it, an output folder that
            already holds a study is an error (nothing measured is overwritten).
        batch_sizes: overrides the config's `batch_sizes`.
        trials: overrides the config's `search.trials`.
        progress: a progress listener (`tfbsz.study.progress.make_progress`) or None.
        role: None (single process), `"chief"` (serves the oracles, runs no trial) or
            `"worker"` (runs trials for a chief); see `tfbsz.run --role`.
    """

    def __init__(self, config, output=None, resume=False, batch_sizes=None, trials=None, progress=None,
                 role=None):
        cfg = load_config(config) if isinstance(config, (str, os.PathLike)) else from_dict(dict(config))
        if output is not None:
            cfg.output = str(output)
        if batch_sizes is not None:
            cfg = from_dict({**cfg, "batch_sizes": list(batch_sizes)})
        if trials is not None:
            cfg.search.trials = trials
            cfg = from_dict(cfg)
        self.cfg = cfg
        self.root = pathlib.Path(cfg.output)
        self.resume = resume
        self.role = role
        from tfbsz.study.progress import NullProgress

        self.progress = progress or NullProgress(cfg.target.metric)
        self.progress.metric = cfg.target.metric

    # ------------------------------------------------------------------ set-up

    def check_before_keras(self):
        """What can be checked before Keras (and TensorFlow or JAX) is imported, which takes
        seconds: the output folder (an existing study needs `resume`; it must be writable) and the
        data set, model and strategy with their options. `python -m tfbsz.run` calls it first, so
        such a mistake is reported at once; `run()` checks everything again."""
        self._prepare_output()
        check_components(self.cfg, KERAS_FREE_SECTIONS)

    def _prepare_output(self):
        check_output(self.root, self.cfg, resume=self.resume, role=self.role)
        _check_writable(self.root)

    def _names(self):
        cfg = self.cfg
        return cfg.data.name, cfg.model.name, cfg.optimizer.name

    def _write_marker(self, strategy_description):
        from tfbsz import __version__

        dataset, model, optimizer = self._names()
        results.write_study_marker(self.root, {
            "tfbsz_version": __version__,
            "name": self.cfg.name or self.root.name,
            "dataset": dataset,
            "model": model,
            "optimizer": optimizer,
            "target": self.cfg.target,
            "batch_sizes": self.cfg.batch_sizes,
            "strategy": strategy_description,
            "config": self.cfg,
        })

    def _batch_size_dir(self, batch_size):
        return results.batch_size_dir(self.root, *self._names(), batch_size)

    def _write_batch_size_study(self, batch_size, max_steps, space):
        from tfbsz.study.tuning import parameter_configs

        directory = self._batch_size_dir(batch_size)
        results.write_batch_size_study(directory, batch_size, *self._names(), parameter_configs(space), max_steps, {
            "target": self.cfg.target,
            "eval_every": self.cfg.eval_every,
            "trials": self.cfg.search.trials,
            "search": self.cfg.search.algorithm,
            "metaparameters": self.cfg.search.metaparameters,
        })
        return directory

    # ------------------------------------------------------------------ running

    def run(self):
        """Runs (or resumes) the study and returns its summary dict (also in summary.json)."""
        self._prepare_output()
        check_components(self.cfg)
        from tfbsz import data, strategies

        strategy = strategies.get(self.cfg.strategy)
        dataset = None if self.role == "chief" else data.load(self.cfg.data, seed=self.cfg.seed)
        if self.role != "worker":
            self._write_marker(strategy.describe())
            if self.cfg.logging.tensorboard:
                from tfbsz.records import tb_logging

                tb_logging.log_study(self.root / "tensorboard", self.cfg)
        self.progress.message(f"strategy: {strategy.describe()}")
        self._plan_cohorts(strategy)
        self._wall_time = WallTimeLog(self.root)
        cfg = self.cfg
        sizes = cfg.batch_sizes
        trials = cfg.search.trials
        if not cfg.search.space and trials > 1:
            self.progress.message(
                f"search.space is empty: every trial would train the same metaparameters, so each batch size "
                f"runs 1 trial (search.trials: {trials} ignored)"
            )
            trials = 1
        if cfg.search.metaparameters == "rule":
            base = cfg.search.base_batch_size or sizes[0]
            order = [base] + [b for b in sizes if b != base]
            self.progress.study_begin(order, {b: trials if b == base else 1 for b in order})
        else:
            base, order = None, sizes
            self.progress.study_begin(sizes, trials)
        rows = {}
        for index, batch_size in enumerate(order):
            fixed, space, count = {}, cfg.search.space, trials
            if base is not None and batch_size != base:
                fixed, space, count = self._rule_parameters(batch_size, base), {}, 1
            self._run_batch_size(index, batch_size, dataset, strategy, fixed, space, count)
            if self.role != "worker":
                rows[batch_size] = self._summarize(batch_size)
                self._write_summary(rows)
        summary = self._write_summary(rows) if self.role != "worker" else {"batch_sizes": []}
        if self.role != "worker" and self.cfg.save_models != "none":
            self._keep_best_model()
        self.progress.study_end(summary)
        return summary

    def _keep_best_model(self):
        """Copies the model of the trial with the best target value to `<output>/best_model.keras`.

        With `save_models: best`, the other trials' models are deleted.
        """
        import shutil

        target = self.cfg.target
        sign = 1.0 if target.direction == "min" else -1.0
        candidates = []
        for bs in results.load_study(self.root).batch_sizes.values():
            for trial in bs.trials:
                value = trial.extra.get("best_value")
                model = trial.path / "model.keras"
                if value is not None and model.exists():
                    candidates.append((sign * value, bs.batch_size, trial.trial_id, model))
        if not candidates:
            return
        best = min(candidates)[3]
        shutil.copyfile(best, self.root / "best_model.keras")
        if self.cfg.save_models == "best":
            for *_, model in candidates:
                model.unlink()

    def _plan_cohorts(self, strategy):
        """Decides once whether trials may train in cohorts, and says why not when that matters."""
        self._engine, self._cohorts, self._one_at_a_time_from = None, False, None
        self._carried = None  # what `auto` settled on at the last batch size (`CohortSizer.carry`)
        if self.role == "chief":
            return
        import keras

        from tfbsz.study import cohort_runs, cohort_size

        self._engine = cohort_runs.engine()
        self._cohorts, line = cohort_size.cohorts_possible(self.cfg, strategy, self._engine, keras.backend.backend())
        if line:
            self.progress.message(line)

    def _sizer(self, cfg, batch_size, trials_left, dataset, strategy, max_steps):
        """The `CohortSizer` of one batch size: how many of its trials train at once."""
        from tfbsz.study import cohort_size

        setting = cfg.search.parallel_trials
        if not self._cohorts or (self._one_at_a_time_from is not None and batch_size > self._one_at_a_time_from):
            setting = 1
        cap = cohort_size.MAX_AUTO
        if setting == "auto" and trials_left > 1:
            cap = cohort_size.memory_cap(cfg, batch_size, dataset, strategy)
        carried = self._carried if self._carried is not None and batch_size > self._carried.batch_size else None
        return cohort_size.CohortSizer(setting, trials_left, cap=cap, carried=carried, budget=max_steps)

    def _sizer_done(self, sizer, batch_size):
        line = sizer.describe(batch_size)
        if line:  # measured: one at a time here means one at a time at every larger batch size
            self.progress.message(line)
            if sizer.settled == 1:
                self._one_at_a_time_from = batch_size
        if sizer.total > 0:  # a batch size with trials to run hands on what it learned (or nothing)
            self._carried = sizer.carry(batch_size)

    def _run_batch_size(self, index, batch_size, dataset, strategy, fixed, space, trials):
        import keras_tuner as kt

        from tfbsz.core.config import steps_budget
        from tfbsz.study import distributed, tuning

        num_train = len(dataset.x_train) if dataset is not None else self._num_train_from_disk()
        max_steps = steps_budget(self.cfg, batch_size, num_train)
        directory = self._batch_size_dir(batch_size)
        if self.role != "worker":
            directory = self._write_batch_size_study(batch_size, max_steps, space)
        legacy_layout.upgrade_batch_size(directory)  # a study written before 0.2, being resumed
        done = sum(1 for p in directory.glob("*/metadata.json")) if directory.exists() else 0
        self.progress.batch_size_begin(batch_size, min(done, trials))
        cfg = Config(self.cfg, search=Config(self.cfg.search, space=Config(space)))
        sizer = None if self.role == "chief" else self._sizer(cfg, batch_size, trials - done, dataset, strategy, max_steps)
        self._wall_time.begin(batch_size)

        def on_run(size, run_results, seconds):
            self._wall_time.on_run(size, run_results, seconds)
            if sizer is not None:
                sizer.observe(size, run_results, seconds)
        tensorboard = self.root / "tensorboard" if cfg.logging.tensorboard else None
        hypermodel = tuning.StudyHyperModel(
            cfg, dataset, batch_size, directory, strategy=strategy, fixed_parameters=fixed,
            progress=self.progress, tensorboard_root=tensorboard, best=self._best_so_far(batch_size),
            engine=self._engine, on_run=on_run,
        )
        oracle = tuning.QuasiRandomOracle(
            algorithm=cfg.search.algorithm,
            # each batch size gets its own scrambling, as in an independent search per batch size
            seed=tuning.trial_seed(cfg.seed, batch_size, "oracle"),
            objective=kt.Objective(tuning.OBJECTIVE_NAME, "min"),
            max_trials=trials,
            hyperparameters=hypermodel.hyperparameters(),
            reverse_log=tuning.reverse_log_names(space),
        )
        distributed.prepare_batch_size(self.root, index)  # port P + index of distributed tuning
        project = results.tuner_dir(directory)
        tuner = tuning.StepsToTargetTuner(hypermodel, oracle, directory=str(project.parent), project_name=project.name,
                                          parallel_trials=sizer.next_size if sizer is not None else 1)
        searching = time.perf_counter()
        try:
            tuner.search()
        except tuning.SearchAborted as e:
            raise e.error from None
        if self.role is None:  # one process trains every trial: its wall time is the batch size's
            self._wall_time.end(batch_size, time.perf_counter() - searching)
        if sizer is not None:
            self._sizer_done(sizer, batch_size)

    def _best_so_far(self, batch_size):
        """The batch size's `BestSoFar` from its finished trials (for `budget.stop_when_beaten`)."""
        from tfbsz.records.summary import best_result
        from tfbsz.study.best_so_far import BestSoFar

        bs = results.load_batch_size(self._batch_size_dir(batch_size)) if self.cfg.budget.stop_when_beaten else None
        return BestSoFar(best_result(bs.trials, self.cfg.target) if bs is not None else None)

    def _num_train_from_disk(self):
        from tfbsz import data

        return len(data.load(self.cfg.data, seed=self.cfg.seed).x_train)

    def _rule_parameters(self, batch_size, base):
        """Metaparameters for `batch_size` derived from the base batch size's best trial."""
        from tfbsz.training import schedules

        row = self._summarize(base)
        best = dict(row["best_parameters"])
        if not best:
            best = self._best_by_objective(base)
        parameters = dict(best)
        lr = best.get("optimizer.learning_rate", self.cfg.optimizer.learning_rate)
        rule = self.cfg.scaling.rule
        parameters["optimizer.learning_rate"] = float(schedules.scale_learning_rate(lr, batch_size, base, rule))
        warmup = best.get("schedule.warmup_steps", self.cfg.schedule.get("warmup_steps"))  # not every schedule has it
        if warmup:
            parameters["schedule.warmup_steps"] = int(schedules.scale_warmup(warmup, batch_size, base, rule))
        return parameters

    def _best_by_objective(self, batch_size):
        bs = results.load_batch_size(self._batch_size_dir(batch_size))
        if bs is None or not bs.trials:
            return {}
        from tfbsz.study.tuning.objective import objective_value

        def score(t):
            return objective_value(t.outcome or "missed", t.extra.get("steps_to_target"), t.extra.get("max_steps", 1),
                                   t.extra.get("best_value"), self.cfg.target.threshold)

        return dict(min(bs.trials, key=score).parameters)

    def _summarize(self, batch_size):
        """The summary row of one batch size, read from its own folder only."""
        bs = results.load_batch_size(self._batch_size_dir(batch_size))
        if bs is None:
            return {"batch_size": batch_size, "steps_to_result": None, "best_trial": None, "trials": 0,
                    "reached": 0, "missed": 0, "diverged": 0, "incomplete": 0, "beaten": 0, "wall_time_s": 0.0,
                    "best_parameters": {}}
        return summarize_batch_size(bs, self.cfg.target)

    def _write_summary(self, rows):
        dataset, model, optimizer = self._names()
        summary = {
            "study": {"name": self.cfg.name or self.root.name, "dataset": dataset, "model": model,
                      "optimizer": optimizer, "target": self.cfg.target,
                      "metaparameters": self.cfg.search.metaparameters},
            "batch_sizes": [rows[b] for b in sorted(rows)],
        }
        write_summary(self.root, summary)
        return summary
