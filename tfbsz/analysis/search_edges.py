"""Search-edge warnings: is a batch size's best trial in the outer eighth of a searched range?

Shallue et al. checked every point of their curves for this: a best learning rate at the edge of
the search space means the optimum may lie outside it, so the steps to result there are an upper
bound and the curve's shape may be an artefact of the range. tfbsz flags it per batch size and
searched parameter, from the search space stored in each `study.json` (`parameter_configs`, the
format of Shallue et al.'s released data):

* `DOUBLE` / `INTEGER` parameters: the best value's position in [min_value, max_value] is measured
  on the parameter's scale (`LINEAR_SCALE`, `LOG_SCALE`: log v, `REVERSE_LOG_SCALE`: -log(1 - v),
  as for momentum); below 1/8 is the `low` edge, above 7/8 the `high` edge.
* `DISCRETE` numeric feasible points: the position of the value's rank among the sorted points.
* Categorical values, missing parameters and malformed configs are never flagged.
* A side whose range already ends at the parameter's own limit is never flagged: nothing lies
  past it to search (a decay or warmup fraction of 1, a momentum, beta, weight decay or label
  smoothing of 0; `NATURAL_LIMITS`, matched on the last part of the name, so `momentum` and
  `optimizer.momentum` alike).

Pure Python (no NumPy), so `tfbsz.records.summary` can call it.

>>> configs = {"lr": {"type": "DOUBLE", "min_value": 1e-3, "max_value": 1.0, "scale": "LOG_SCALE"},
...            "momentum": {"type": "DOUBLE", "min_value": 0.0, "max_value": 0.99, "scale": "REVERSE_LOG_SCALE"}}
>>> search_edges({"lr": 0.7, "momentum": 0.9}, configs)
{'lr': 'high'}
>>> search_edges({"schedule.decay_fraction": 0.98},
...              {"schedule.decay_fraction": {"type": "DOUBLE", "min_value": 0.25, "max_value": 1.0}})
{}
>>> WIDEN_HINT
'widen the search range past that edge (search.space) and re-run those batch sizes'
"""

import math

__all__ = ["EDGE_FRACTION", "NATURAL_LIMITS", "WIDEN_HINT", "position_on_scale", "search_edges"]

EDGE_FRACTION = 1.0 / 8.0
WIDEN_HINT = "widen the search range past that edge (search.space) and re-run those batch sizes"

# (lowest, highest) value a parameter can take, by the last part of its name (None: no limit).
NATURAL_LIMITS = {
    "decay_fraction": (0.0, 1.0),
    "warmup_fraction": (0.0, 1.0),
    "momentum": (0.0, None),
    "beta_1": (0.0, None),
    "beta_2": (0.0, None),
    "weight_decay": (0.0, None),
    "label_smoothing": (0.0, 1.0),
    "mixup_alpha": (0.0, None),
}

_TRANSFORMS = {
    "LINEAR_SCALE": lambda v: v,
    "LOG_SCALE": lambda v: math.log(v),
    "REVERSE_LOG_SCALE": lambda v: -math.log(1.0 - v),
}


def _real(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def position_on_scale(value, config):
    """Where `value` lies in its searched range, 0 (low end) to 1 (high end); None if unknown."""
    if not isinstance(config, dict) or not _real(value):
        return None
    if config.get("type") == "DISCRETE":
        points = config.get("feasible_points") or []
        if len(points) < 3 or not all(_real(p) for p in points) or value not in points:
            return None
        ordered = sorted(set(points))
        return ordered.index(value) / (len(ordered) - 1)
    low, high = config.get("min_value"), config.get("max_value")
    transform = _TRANSFORMS.get(config.get("scale") or "LINEAR_SCALE")
    if transform is None or not _real(low) or not _real(high) or not high > low:
        return None
    try:
        a, b, v = transform(low), transform(high), transform(value)
    except (ValueError, ZeroDivisionError):
        return None
    return (v - a) / (b - a)


def _configs(parameter_configs):
    """{name: config} from a mapping, or from a list of configs naming themselves (`parameter` or `name`)."""
    if isinstance(parameter_configs, dict):
        return {str(k): v for k, v in parameter_configs.items()}
    out = {}
    for config in parameter_configs if isinstance(parameter_configs, list) else []:
        name = config.get("parameter", config.get("name")) if isinstance(config, dict) else None
        if isinstance(name, str):
            out[name] = config
    return out


def _at_natural_limit(name, side, config):
    """Whether the `side` ("low"/"high") end of `config`'s range is the parameter's own limit."""
    limits = NATURAL_LIMITS.get(str(name).rsplit(".", 1)[-1])
    limit = None if limits is None else limits[0 if side == "low" else 1]
    end = config.get("min_value" if side == "low" else "max_value")
    return limit is not None and _real(end) and abs(end - limit) <= 1e-12


def search_edges(parameters, parameter_configs, fraction=EDGE_FRACTION):
    """{name: "low" | "high"} for each searched parameter whose value sits in an outer `fraction`
    of its range, on a side that could be widened (not at the parameter's own limit).

    `parameter_configs` is a mapping name -> config, or a list of configs with a `parameter` (or
    `name`) key;
    anything else (or a malformed entry) flags nothing.

    >>> search_edges({"lr": 0.001}, [{"parameter": "lr", "type": "DOUBLE", "min_value": 0.001, "max_value": 1}])
    {'lr': 'low'}
    """
    edges = {}
    parameters = parameters if isinstance(parameters, dict) else {}
    for name, config in sorted(_configs(parameter_configs).items()):
        position = position_on_scale(parameters.get(name), config)
        if position is None:
            continue
        side = "low" if position < fraction else "high" if position > 1.0 - fraction else None
        if side is not None and not _at_natural_limit(name, side, config):
            edges[name] = side
    return edges
