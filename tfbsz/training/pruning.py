"""Pruning at initialisation (random, magnitude, SNIP) with masks held fixed during training.

Config (the `sparsity:` section)::

    sparsity: {method: snip, level: 0.9, batches: 10, include: ["kernel$"]}

* ``method``: ``none`` (default), ``random``, ``magnitude`` or ``snip``.
* ``level``: the fraction of the included weights to prune, in [0, 1); 0 means no pruning.
  Exactly ``round(level * n)`` of the ``n`` included weights are pruned.
* ``batches``: how many batches SNIP sums its gradients over (default 10).
* ``include``: regular expressions searched in variable paths (``"dense/kernel"``); a trainable
  variable is included if any matches. Default (None): every trainable variable of rank >= 2,
  i.e. the kernels of Dense, Conv and EinsumDense layers and Embedding tables, not biases or
  normalisation scales. Lee et al. also prune biases: ``include: [".*"]``.

Scores, then one **global** top-k over all included weights together (layers end up with
different sparsities, as in Lee et al. 2019/2021):

* ``random``: uniform random scores from ``numpy.random.default_rng(seed)``.
* ``magnitude``: ``|w|``.
* ``snip`` (Lee, Ajanthan & Torr 2019, "SNIP: single-shot network pruning based on connection
  sensitivity"): ``|w * sum_b dL_b/dw|``, the magnitude of the gradient of the loss with
  respect to a multiplicative mask of ones, with gradients summed over `batches` batches before
  the absolute value, as Lee et al.'s code accumulates them. `loss_fn` defaults to sparse
  categorical cross-entropy on logits, which fits every tfbsz model.

Masks are enforced by `MaskConstraint`, installed as each pruned variable's ``constraint``.
Keras's optimizer applies ``variable.constraint`` after every update, inside
``optimizer.apply``, on every backend; that covers `LossScaleOptimizer` (mixed precision),
``gradient_accumulation_steps``, `tf.distribute` strategies and any optimizer built on
`keras.optimizers.Optimizer` (tfbsz's LARS and LAMB included). Momentum and Adam moments of
pruned weights may be non-zero, but the weights are reset to exactly zero after every update.
The masks are non-trainable `keras.Variable`s held by the constraints, not by the layers: the
model's weight list does not change, and a saved model stores the pruned weights as zeros but
not the constraints (call `apply_pruning` again, or reinstall masks, after loading).

Example:

>>> import keras
>>> from tfbsz import pruning
>>> model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16), keras.layers.Dense(4)])
>>> report = pruning.apply_pruning(model, {"method": "magnitude", "level": 0.75})
>>> report["global_sparsity"], report["pruned"], report["size"]
(0.75, 144, 192)
>>> kernel = keras.ops.convert_to_numpy(model.layers[0].kernel)
>>> float((kernel == 0).mean()) >= 0.5
True
"""

import re

import numpy as np

import keras
from keras import ops

from tfbsz.core.config import Config
from tfbsz.core.errors import ConfigError
from tfbsz.core.registry import closest

__all__ = ["apply_pruning", "sparsity_report", "options", "METHODS", "MaskConstraint"]

METHODS = ("none", "random", "magnitude", "snip")

_DEFAULTS = {"method": "none", "level": 0.9, "batches": 10, "include": None}


def options():
    """The valid `sparsity:` keys with their defaults.

    Example:

    >>> options()["method"]
    'none'
    """
    return dict(_DEFAULTS)


# ---------------------------------------------------------------------------------------------
# The mask constraint
# ---------------------------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="tfbsz")
class MaskConstraint(keras.constraints.Constraint):
    """Multiplies a weight by a fixed 0/1 mask; Keras applies it after every optimizer update.

    Args:
        mask: array of the weight's shape (1 keeps, 0 prunes), stored in a non-trainable
            float32 `keras.Variable` (accessible as ``.mask``).
        inner: a constraint the variable already had; applied first, then the mask.

    Example:

    >>> import numpy as np
    >>> c = MaskConstraint(np.array([1.0, 0.0, 1.0]))
    >>> keras.ops.convert_to_numpy(c(np.array([2.0, 3.0, 4.0], "float32"))).tolist()
    [2.0, 0.0, 4.0]
    """

    def __init__(self, mask, inner=None):
        if isinstance(mask, keras.Variable):
            self.mask = mask
        else:
            self.mask = keras.Variable(
                np.asarray(mask, dtype="float32"), trainable=False, dtype="float32", name="mask"
            )
        self.inner = keras.constraints.get(inner) if isinstance(inner, (dict, str)) else inner

    def __call__(self, w):
        if self.inner is not None:
            w = self.inner(w)
        return w * ops.cast(self.mask, w.dtype)

    def get_config(self):
        inner = keras.constraints.serialize(self.inner) if self.inner is not None else None
        return {"mask": ops.convert_to_numpy(self.mask).tolist(), "inner": inner}


# ---------------------------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------------------------


def _check_config(sparsity_cfg):
    cfg = dict(sparsity_cfg or {})
    unknown = sorted(set(cfg) - set(_DEFAULTS))
    if unknown:
        hint = closest(unknown[0], _DEFAULTS)
        hint = f" (did you mean '{hint}'?)" if hint else ""
        raise ConfigError(
            f"sparsity.{unknown[0]}: unknown option{hint}; valid options: "
            f"{', '.join(sorted(_DEFAULTS))}"
        )
    cfg = Config({**_DEFAULTS, **cfg})
    if cfg.method not in METHODS:
        hint = closest(cfg.method, METHODS)
        hint = f" (did you mean '{hint}'?)" if hint else ""
        raise ConfigError(
            f"sparsity.method: unknown method {cfg.method!r}{hint}; valid methods: "
            f"{', '.join(METHODS)}"
        )
    level = cfg.level
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 <= level < 1:
        raise ConfigError(f"sparsity.level: expected a number in [0, 1), got {level!r}")
    cfg.level = float(level)
    batches = cfg.batches
    if isinstance(batches, bool) or not isinstance(batches, int) or batches < 1:
        raise ConfigError(f"sparsity.batches: expected an integer >= 1, got {batches!r}")
    include = cfg.include
    if include is not None:
        if isinstance(include, str) or not isinstance(include, (list, tuple)):
            raise ConfigError(
                f"sparsity.include: expected a list of regular expressions, got {include!r}"
            )
        for pattern in include:
            try:
                re.compile(pattern)
            except (re.error, TypeError) as error:
                raise ConfigError(
                    f"sparsity.include: {pattern!r} is not a regular expression ({error})"
                ) from None
        cfg.include = list(include)
    return cfg


def _included_variables(model, include):
    variables = list(model.trainable_variables)
    if not variables:
        raise ValueError(
            "apply_pruning: the model has no trainable variables yet; build it (call it on "
            "data or give it an Input) before pruning"
        )
    if include is None:
        chosen = [v for v in variables if len(v.shape) >= 2]
    else:
        chosen = [v for v in variables if any(re.search(p, v.path) for p in include)]
    if not chosen:
        paths = ", ".join(v.path for v in variables)
        raise ConfigError(
            f"sparsity.include: no trainable variable matches {include!r}; variables: {paths}"
        )
    return chosen


# ---------------------------------------------------------------------------------------------
# Scores
# ---------------------------------------------------------------------------------------------


def _gradient_function(model, loss_fn):
    """``gradients(x, y)``: the gradients of ``loss_fn(y, model(x))`` w.r.t. the model's trainable
    variables, as backend arrays (None for a variable without one). On JAX the arrays come back
    before the device has computed them, so a caller can queue several batches and convert later.

    The only backend-specific code in this module.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        def tape_gradients(x, y):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            return tape.gradient(loss, model.trainable_variables)

        def gradients(x, y):
            if tf.distribute.has_strategy() and tf.distribute.in_cross_replica_context():
                # Distributed variables differentiate only inside a replica: run the whole batch
                # on every replica and keep the first replica's (identical) gradients.
                strategy = tf.distribute.get_strategy()
                per_replica = strategy.run(tape_gradients, args=(x, y))
                return [strategy.experimental_local_results(g)[0] for g in per_replica]
            return tape_gradients(x, y)

        return gradients
    if backend == "jax":
        function = _jax_gradient_function(model, loss_fn)
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        return lambda x, y: function(trainable, non_trainable, x, y)
    raise NotImplementedError(f"SNIP gradients on the {backend!r} backend")


def _float64_gradients(grads, model):
    """`grads` (from `_gradient_function`) as float64 NumPy arrays, zeros where there is none."""
    return [
        np.zeros(v.shape) if g is None else ops.convert_to_numpy(g).astype("float64")
        for g, v in zip(grads, model.trainable_variables)
    ]


# Compiled SNIP gradient functions, by model architecture and loss: the trials of a study build
# the same architecture again and again, and run op by op each would take about a second on a GPU.
_JAX_GRADIENTS = {}


def _architecture_key(model, loss_fn):
    """A key under which models compute the same function of their variables (None: unknown)."""
    import json

    # Layer names differ between instances of one architecture (dense, dense_1); the compile
    # config (optimizer, its learning rate, metrics) differs between trials and takes no part in
    # the gradients of `loss_fn(y, model(x))` (the loss is keyed on its own).
    ignored = ("name", "compile_config")

    def unnamed(value):
        if isinstance(value, dict):
            return {k: unnamed(v) for k, v in value.items() if k not in ignored}
        if isinstance(value, (list, tuple)):
            return [unnamed(v) for v in value]
        return value

    try:
        config = json.dumps(unnamed(keras.saving.serialize_keras_object(model)), sort_keys=True, default=str)
        loss = json.dumps(unnamed(keras.saving.serialize_keras_object(loss_fn)), sort_keys=True, default=str)
    except Exception:  # a model or loss that does not serialise: no sharing
        return None
    if any(isinstance(layer, keras.layers.Layer) and type(layer).__module__.startswith("__main__")
           for layer in getattr(model, "layers", [])):
        return None  # a layer defined in a script may change between models: no sharing
    shapes = tuple((tuple(v.shape), str(v.dtype), v.trainable) for v in model.variables)
    # Each layer's dtype policy (its name went with the names above): float32 and mixed precision
    # compute different gradients from the same variables.
    layers = model._flatten_layers(include_self=True) if hasattr(model, "_flatten_layers") else [model]
    policies = tuple(str(getattr(getattr(layer, "dtype_policy", None), "name", None)) for layer in layers)
    return (type(model).__qualname__, config, loss, shapes, policies)


def _jax_gradient_function(model, loss_fn):
    """`grad(trainable, non_trainable, x, y)`, jitted once per architecture and loss.

    The function calls `stateless_call` of the first model of the architecture; any model with the
    same serialised config and variables computes the same function of its variable values.
    """
    import jax

    key = _architecture_key(model, loss_fn)
    function = _JAX_GRADIENTS.get(key) if key is not None else None
    if function is None:
        def loss_of(trainable_values, non_trainable_values, x, y):
            y_pred, _ = model.stateless_call(trainable_values, non_trainable_values, x, training=True)
            return loss_fn(y, y_pred)

        function = jax.jit(jax.grad(loss_of))
        if key is not None:
            if len(_JAX_GRADIENTS) >= 8:
                _JAX_GRADIENTS.pop(next(iter(_JAX_GRADIENTS)))
            _JAX_GRADIENTS[key] = function
    return function


def _snip_scores(model, variables, batches, num_batches, loss_fn):
    if batches is None:
        raise ValueError("apply_pruning: method 'snip' needs `batches`, an iterator of (x, y)")
    loss_fn = loss_fn or keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    index = {id(v): i for i, v in enumerate(model.trainable_variables)}
    summed = [np.zeros(v.shape, "float64") for v in variables]
    gradients = _gradient_function(model, loss_fn)

    def add(grads):  # summed in float64, batch after batch
        grads = _float64_gradients(grads, model)
        for total, v in zip(summed, variables):
            total += grads[index[id(v)]]

    # The next batch's gradients are queued before this one's are converted (JAX computes them
    # meanwhile); two sets at most wait on the device.
    pending = []
    iterator = iter(batches)
    for _ in range(num_batches):
        try:
            x, y = next(iterator)
        except StopIteration:
            break
        pending.append(gradients(x, y))
        if len(pending) > 1:
            add(pending.pop(0))
    for grads in pending:
        add(grads)
    return [np.abs(g * _numpy(v)) for g, v in zip(summed, variables)]


def _numpy(variable):
    return ops.convert_to_numpy(variable).astype("float64")


def _scores(method, model, variables, batches, num_batches, loss_fn, seed):
    if method == "random":
        rng = np.random.default_rng(seed)
        return [rng.random(v.shape) for v in variables]
    if method == "magnitude":
        return [np.abs(_numpy(v)) for v in variables]
    return _snip_scores(model, variables, batches, num_batches, loss_fn)


def _global_top_k_masks(scores, level):
    """Masks keeping the ``n - round(level * n)`` highest scores over all arrays together.

    Ties are broken by position (a stable sort), so the count is exact.
    """
    flat = np.concatenate([s.ravel() for s in scores])
    keep = flat.size - int(round(level * flat.size))
    kept = np.zeros(flat.size, dtype="float32")
    # The first `keep` of a stable descending sort, without sorting: every number above the keep-th
    # largest, then as many of the numbers equal to it as are left, lowest position first; NaN
    # scores come after every number (as in the sort), by position.
    nan = np.isnan(flat)
    positions = np.flatnonzero(~nan)
    numbers = flat[positions]
    k = min(keep, numbers.size)
    if k > 0:
        threshold = np.partition(numbers, numbers.size - k)[numbers.size - k]
        above = numbers > threshold
        kept[positions[above]] = 1.0
        kept[positions[np.flatnonzero(numbers == threshold)[: k - int(above.sum())]]] = 1.0
    if keep > k:
        kept[np.flatnonzero(nan)[: keep - k]] = 1.0
    masks, start = [], 0
    for s in scores:
        masks.append(kept[start : start + s.size].reshape(s.shape))
        start += s.size
    return masks


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def apply_pruning(model, sparsity_cfg, batches=None, loss_fn=None, seed=0):
    """Prunes `model` at initialisation and keeps the masks fixed for the rest of training.

    Computes the masks, zeroes the pruned weights and installs a `MaskConstraint` on every
    included variable. Call it after the model is built and before training (inside the
    distribution strategy's scope if there is one).

    Args:
        model: a built `keras.Model`.
        sparsity_cfg: the `sparsity:` section (see the module docstring); method ``none`` or
            level 0 leaves the model alone.
        batches: iterator of ``(x, y)`` NumPy batches; needed by ``snip`` only, which reads
            its ``batches`` of them (fewer if it runs out).
        loss_fn: ``loss_fn(y_true, y_pred) -> scalar`` for SNIP; default sparse categorical
            cross-entropy on logits.
        seed: seed of the ``random`` method.

    Returns:
        A JSON-ready dict for the trial's metadata: ``method``, ``level``, ``batches`` (SNIP
        batches used, else 0) plus `sparsity_report`'s keys.

    Raises:
        ConfigError: unknown key or method, level outside [0, 1), bad regex, or no variable
            matched by ``include``.
        ValueError: an unbuilt model, SNIP without batches, or a variable already pruned.

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dense(3)])
    >>> data = iter([(np.ones((2, 4), "float32"), np.array([0, 2]))] * 3)
    >>> r = apply_pruning(model, {"method": "snip", "level": 0.5, "batches": 3}, batches=data)
    >>> r["method"], r["batches"], r["global_sparsity"]
    ('snip', 3, 0.5)
    """
    cfg = _check_config(sparsity_cfg)
    method, level = cfg.method, cfg.level
    used_batches = 0
    if method != "none" and level > 0:
        variables = _included_variables(model, cfg.include)
        for v in variables:
            if isinstance(v.constraint, MaskConstraint):
                raise ValueError(f"apply_pruning: variable {v.path} is already pruned")
        counting = _CountingIterator(batches) if batches is not None else None
        scores = _scores(method, model, variables, counting, cfg.batches, loss_fn, seed)
        used_batches = counting.count if (counting is not None and method == "snip") else 0
        for v, mask in zip(variables, _global_top_k_masks(scores, level)):
            constraint = MaskConstraint(mask, inner=v.constraint)
            v.constraint = constraint
            v.assign(v * ops.cast(constraint.mask, v.dtype))
    else:
        method, level = "none", 0.0
    return {"method": method, "level": level, "batches": used_batches, **sparsity_report(model)}


class _CountingIterator:
    def __init__(self, batches):
        self._iterator = iter(batches)
        self.count = 0

    def __iter__(self):
        return self

    def __next__(self):
        item = next(self._iterator)
        self.count += 1
        return item


def sparsity_report(model):
    """Per-variable and global sparsity of the masks installed on `model`.

    Returns:
        ``{"global_sparsity", "pruned", "size", "parameters", "layers": {path: {"shape",
        "size", "pruned", "sparsity", "zeros"}}}`` where ``pruned``/``size`` count masked
        entries over the masked variables (``global_sparsity = pruned / size``, 0.0 without
        masks), ``parameters`` counts all trainable weights, and ``zeros`` counts exact zeros
        in the variable now (at least ``pruned`` while the masks hold).

    Example:

    >>> import keras
    >>> sparsity_report(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    {'global_sparsity': 0.0, 'pruned': 0, 'size': 0, 'parameters': 3, 'layers': {}}
    """
    layers, pruned, size, parameters = {}, 0, 0, 0
    for v in model.trainable_variables:
        parameters += int(np.prod(v.shape))
        if not isinstance(v.constraint, MaskConstraint):
            continue
        mask = ops.convert_to_numpy(v.constraint.mask)
        n, k = int(mask.size), int((mask == 0).sum())
        key, suffix = v.path, 2
        while key in layers:
            key, suffix = f"{v.path}#{suffix}", suffix + 1
        layers[key] = {
            "shape": [int(d) for d in v.shape],
            "size": n,
            "pruned": k,
            "sparsity": k / n,
            "zeros": int((ops.convert_to_numpy(v) == 0).sum()),
        }
        pruned, size = pruned + k, size + n
    return {
        "global_sparsity": pruned / size if size else 0.0,
        "pruned": pruned,
        "size": size,
        "parameters": parameters,
        "layers": layers,
    }
