"""`QuasiRandomOracle`: KerasTuner search by a scrambled Halton or Sobol sequence.

Shallue et al. tuned every batch size by quasi-random search (after Bousquet et al. 2017):
a low-discrepancy sequence covers the space more evenly than independent random draws, so
few trials leave fewer holes. Point `i` of the sequence (seeded, scrambled, from
`scipy.stats.qmc`) is mapped to values through each hyperparameter's own `prob_to_value`, which
honours log and reverse-log scales. The cursor is part of the oracle's saved state, so a resumed
search continues the sequence instead of repeating it.

Example:

>>> import keras_tuner as kt
>>> from tfbsz.study.tuning.oracle import QuasiRandomOracle
>>> hp = kt.HyperParameters()
>>> _ = hp.Float("lr", 1e-3, 1.0, sampling="log")
>>> oracle = QuasiRandomOracle(objective=kt.Objective("steps", "min"), max_trials=4,
...                            hyperparameters=hp, seed=0)
>>> points = oracle.sequence_points(4)
>>> points.shape
(4, 1)
"""

import keras_tuner as kt
import numpy as np
from scipy.stats import qmc

from tfbsz.study.tuning import kt_internals
from tfbsz.study.tuner_files import DurableOracle
from tfbsz.study.tuning.space import reverse_log_value

__all__ = ["QuasiRandomOracle"]


class QuasiRandomOracle(DurableOracle):  # DurableOracle: KerasTuner's files, crash-safe
    """An Oracle whose trials follow a scrambled Halton or Sobol sequence.

    Args:
        algorithm: `"halton"` or `"sobol"`. Defaults to `"halton"`.
        seed: scrambling seed; the same seed gives the same trials. Defaults to `0`.
        reverse_log: names of hyperparameters sampled uniformly in log(1 - x) (Shallue et
            al.'s REVERSE_LOG_SCALE, e.g. momentum); they are declared as linear Floats.
        **kwargs: passed to `keras_tuner.Oracle` (objective, max_trials, hyperparameters, ...).
    """

    def __init__(self, algorithm="halton", seed=0, reverse_log=(), **kwargs):
        if algorithm not in ("halton", "sobol"):
            raise ValueError(f"`algorithm` must be 'halton' or 'sobol'. Received: algorithm={algorithm!r}")
        kwargs.setdefault("max_consecutive_failed_trials", 1000)
        super().__init__(seed=seed, **kwargs)
        self.algorithm = algorithm
        self.sequence_seed = int(seed)
        self._cursor = 0
        self.reverse_log = tuple(reverse_log)

    def sequence_points(self, count, start=0):
        """Points `start .. start+count-1` of the sequence, in [0, 1)^d."""
        dimensions = max(1, len(self.hyperparameters.space))
        if self.algorithm == "halton":
            engine = qmc.Halton(d=dimensions, scramble=True, seed=self.sequence_seed)
        else:
            engine = qmc.Sobol(d=dimensions, scramble=True, seed=self.sequence_seed)
        if start:
            engine.fast_forward(start)
        return np.asarray(engine.random(count))

    def populate_space(self, trial_id):
        for _ in range(kt_internals.max_collisions(self) + 1):
            point = self.sequence_points(1, start=self._cursor)[0]
            self._cursor += 1
            hps = kt.HyperParameters()
            for dimension, hp in enumerate(self.hyperparameters.space):
                hps.merge([hp])
                if hps.is_active(hp):
                    prob = float(np.clip(point[dimension], 1e-12, 1 - 1e-12))
                    if hp.name in self.reverse_log:
                        hps.values[hp.name] = reverse_log_value(prob, hp.min_value, hp.max_value)
                    else:
                        hps.values[hp.name] = hp.prob_to_value(prob)
            if not kt_internals.was_tried(self, hps.values):
                return {"status": kt_internals.TrialStatus.RUNNING, "values": hps.values}
        return {"status": kt_internals.TrialStatus.STOPPED, "values": None}

    def get_state(self):
        state = super().get_state()
        state.update(
            {"qmc_cursor": self._cursor, "qmc_algorithm": self.algorithm, "qmc_seed": self.sequence_seed,
             "qmc_reverse_log": list(self.reverse_log)}
        )
        return state

    def set_state(self, state):
        super().set_state(state)
        self._cursor = state.get("qmc_cursor", 0)
        self.algorithm = state.get("qmc_algorithm", self.algorithm)
        self.sequence_seed = state.get("qmc_seed", self.sequence_seed)
        self.reverse_log = tuple(state.get("qmc_reverse_log", self.reverse_log))
