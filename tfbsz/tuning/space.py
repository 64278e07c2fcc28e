"""The search space of a study: config `search.space` -> KerasTuner hyperparameters.

Each search key is a config path (`optimizer.learning_rate`, `optimizer.momentum`,
`schedule.end_factor`, `regularization.label_smoothing`, ...), so a trial's values are applied
to the config directly. Ranges take `min`, `max`, `scale` (`linear`, `log`, or `reverse_log`:
uniform in log(1 - x), the natural scale of a momentum) and `type` (`float` or `int`); a list of
`values` gives a choice.

Example:

>>> from tfbsz.tuning.space import build_hyperparameters, parameter_configs
>>> hp = build_hyperparameters({"optimizer.learning_rate": {"min": 1e-3, "max": 1.0, "scale": "log"},
...                             "optimizer.momentum": {"min": 0.5, "max": 0.99, "scale": "reverse_log"}})
>>> [p.name for p in hp.space]
['optimizer.learning_rate', 'optimizer.momentum']
>>> parameter_configs({"optimizer.momentum": {"min": 0.5, "max": 0.99, "scale": "reverse_log"}})
{'optimizer.momentum': {'type': 'DOUBLE', 'min_value': 0.5, 'max_value': 0.99, 'scale': 'REVERSE_LOG_SCALE'}}
"""

import keras_tuner as kt

__all__ = ["build_hyperparameters", "parameter_configs"]

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
            hp.Float(name, float(spec["min"]), float(spec["max"]), sampling=spec.get("scale", "linear"))
    return hp


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
