"""The search space of a study: config `search.space` -> KerasTuner hyperparameters.

Each search key is a config path (`optimizer.learning_rate`, `optimizer.momentum`,
`schedule.end_factor`, `regularization.label_smoothing`, ...), so a trial's values are applied
to the config directly. Ranges take `min`, `max`, `scale` (`linear`, `log`, or `reverse_log`:
uniform in log(1 - x), the natural scale of a momentum) and `type` (`float` or `int`); a list of
`values` gives a choice.

Example:

>>> from tfbsz.study.tuning.space import build_hyperparameters, parameter_configs
>>> hp = build_hyperparameters({"optimizer.learning_rate": {"min": 1e-3, "max": 1.0, "scale": "log"},
...                             "optimizer.momentum": {"min": 0.5, "max": 0.99, "scale": "reverse_log"}})
>>> [p.name for p in hp.space]
['optimizer.learning_rate', 'optimizer.momentum']
>>> parameter_configs({"optimizer.momentum": {"min": 0.5, "max": 0.99, "scale": "reverse_log"}})
{'optimizer.momentum': {'type': 'DOUBLE', 'min_value': 0.5, 'max_value': 0.99, 'scale': 'REVERSE_LOG_SCALE'}}
"""

import keras_tuner as kt

__all__ = ["build_hyperparameters", "parameter_configs", "reverse_log_names", "reverse_log_value"]

_SHALLUE_SCALE = {"linear": "LINEAR_SCALE", "log": "LOG_SCALE", "reverse_log": "REVERSE_LOG_SCALE"}


def build_hyperparameters(space):
    """A `keras_tuner.HyperParameters` declaring every key of `space`, in the config's order."""
    hp = kt.HyperParameters()
    for name, spec in space.items():
        if "values" in spec:
            values = spec["values"]
            ordered = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            hp.Choice(name, values, ordered=ordered)
        elif spec.get("type", "float") == "int":
            sampling = "linear" if spec.get("scale", "linear") == "reverse_log" else spec.get("scale", "linear")
            hp.Int(name, int(spec["min"]), int(spec["max"]), sampling=sampling)
        else:
            # KerasTuner's own "reverse_log" is a reflected log scale, not Shallue et al.'s
            # REVERSE_LOG_SCALE (uniform in log(1 - x)); the oracle maps those itself
            # (`reverse_log_value`), so they are declared with a linear scale here.
            scale = spec.get("scale", "linear")
            hp.Float(name, float(spec["min"]), float(spec["max"]), sampling="linear" if scale == "reverse_log" else scale)
    return hp


def reverse_log_names(space):
    """The keys of `space` on a reverse-log scale (uniform in log(1 - x))."""
    return sorted(name for name, spec in space.items() if spec.get("scale") == "reverse_log")


def reverse_log_value(prob, low, high):
    """The value at quantile `prob` of a scale uniform in log(1 - x) over [low, high].

    >>> round(reverse_log_value(0.5, 0.9, 0.999), 6)   # 1 - sqrt(0.1 * 0.001)
    0.99
    """
    import math

    log_far, log_near = math.log(1.0 - low), math.log(1.0 - high)
    return 1.0 - math.exp(log_far + prob * (log_near - log_far))


def parameter_configs(space):
    """The search space in the `parameter_configs` format of Shallue et al.'s `study.json`."""
    configs = {}
    for name, spec in space.items():
        if "values" in spec:
            configs[name] = {"type": "DISCRETE", "feasible_points": list(spec["values"])}
        else:
            configs[name] = {
                "type": "INTEGER" if spec.get("type") == "int" else "DOUBLE",
                "min_value": spec["min"],
                "max_value": spec["max"],
                "scale": _SHALLUE_SCALE[spec.get("scale", "linear")],
            }
    return configs
