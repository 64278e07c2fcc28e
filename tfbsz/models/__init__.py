"""The model catalogue: names, their options, parameter counts, and `build`.

`build(model_cfg, dataset)` turns the `model:` section of a config into an
uncompiled Keras model that outputs float32 **logits**. The catalogue itself
(`names`, `options`, `transformer_num_params`, `transformer_config_for_params`)
does not import Keras, so the config validator can check keys quickly; the
model modules are imported only when a model is built.

Models:

* `transformer`: decoder-only causal language model (`tfbsz.models.transformer`).
* `simple_cnn`: Shallue et al.'s MNIST CNN (`tfbsz.models.simple_cnn`).
* `mlp`: fully connected network, Shallue's `fc_*` family (`tfbsz.models.mlp`).
* `resnet`: ResNet-8/20-style network for small images (`tfbsz.models.resnet`).

Example (any object with `.task`, `.num_classes` and `.input_shape` works as
the data set):

>>> import types
>>> from tfbsz import models
>>> models.names()
['mlp', 'resnet', 'simple_cnn', 'transformer']
>>> models.options("mlp")
{'hidden_units': [128, 128], 'activation': 'relu'}
>>> digits = types.SimpleNamespace(task="classification", num_classes=10, input_shape=(8, 8, 1))
>>> model = models.build({"name": "mlp", "hidden_units": [32]}, digits)
>>> model.output_shape, models.count_params(model)
((None, 10), 2410)
>>> models.build({"name": "mlp", "hidden_unit": [32]}, digits)
Traceback (most recent call last):
...
tfbsz.core.errors.ConfigError: model.hidden_unit: unknown option for model 'mlp' (did you mean 'hidden_units'?); valid options: activation, hidden_units
"""

import ast
import copy
import math
import os
from types import MappingProxyType

from tfbsz.core import checks
from tfbsz.core.errors import ConfigError
from tfbsz.core.registry import Component, Registry, check_option_names

__all__ = [
    "build",
    "names",
    "options",
    "count_params",
    "transformer_num_params",
    "transformer_non_embedding_params",
    "transformer_config_for_params",
]

LANGUAGE_MODEL = "language_model"
CLASSIFICATION = "classification"


def _builder_defaults(module, builder):
    """`{option: default}` of `builder`'s keyword arguments in `tfbsz/models/<module>.py`.

    The builder's signature is the one place a model's defaults are written. They are read from
    the module's source (`ast`) rather than by importing it, so that the catalogue, and the config
    checks that use it, do not import Keras. Tuples become lists (the config's YAML types).
    """
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{module}.py")
    with open(path, encoding="utf-8") as source:
        tree = ast.parse(source.read(), filename=path)
    function = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == builder)
    arguments = function.args.args[-len(function.args.defaults):] if function.args.defaults else []
    defaults = {}
    for argument, default in zip(arguments, function.args.defaults):
        value = ast.literal_eval(default)
        defaults[argument.arg] = list(value) if isinstance(value, tuple) else value
    return MappingProxyType(defaults)


def _register(name, module, builder, tasks=(CLASSIFICATION,)):
    _MODELS.register(name, Component(_builder_defaults(module, builder), f"tfbsz.models.{module}:{builder}", tasks))


_MODELS = Registry("model", key="model.name")
_register("transformer", "transformer", "build_transformer", tasks=(LANGUAGE_MODEL,))
_register("simple_cnn", "simple_cnn", "build_simple_cnn")
_register("mlp", "mlp", "build_mlp")
_register("resnet", "resnet", "build_resnet")


def names():
    """The registered model names, sorted."""
    return _MODELS.names()


def options(name):
    """A fresh dict of the options that model `name` accepts, with their defaults.

    Raises:
        ConfigError: `name` is not a registered model.
    """
    return copy.deepcopy(dict(_MODELS.get(name).defaults))


def resolve_options(model_cfg):
    """The `model:` section's options merged over the defaults of its model.

    Args:
        model_cfg: a dict with `name` and any of that model's options.

    Returns:
        `(name, options)` where `options` holds every option of the model.

    Raises:
        ConfigError: `model_cfg` is not a dict, has no `name`, names an unknown
            model, or holds an option the model does not have.
    """
    if not isinstance(model_cfg, dict):
        raise ConfigError(f"model: expected a mapping with a 'name' key, got {model_cfg!r}")
    if "name" not in model_cfg:
        raise ConfigError(f"model.name: missing; valid names: {', '.join(names())}")
    name = model_cfg["name"]
    resolved = options(name)
    given = {key: value for key, value in model_cfg.items() if key != "name"}
    check_option_names("model", name, given, resolved)
    resolved.update(given)
    return name, resolved


def build(model_cfg, dataset):
    """Builds the uncompiled Keras model that `model_cfg` names, sized for `dataset`.

    Args:
        model_cfg: the `model:` section, e.g. `{"name": "transformer",
            "num_layers": 2, "d_model": 64}`; options left out take the
            defaults listed by `options(name)`.
        dataset: a `tfbsz.data.Dataset` or any object with `.task`
            (`"language_model"` or `"classification"`), `.num_classes`
            (the vocabulary size for language models) and `.input_shape`
            (per-example shape, e.g. `(64,)` tokens or `(28, 28, 1)` pixels).

    Returns:
        A `keras.Model` whose output is float32 logits: `[batch, seq_len,
        vocab]` for language models, `[batch, num_classes]` otherwise.

    Raises:
        ConfigError: unknown model or option, an option value out of range,
            or a model that does not fit the data set's task or input shape.
    """
    name, resolved = resolve_options(model_cfg)
    spec = _MODELS.get(name)
    task = getattr(dataset, "task", None)
    if task not in spec.tasks:
        fitting = [n for n in names() if task in _MODELS.get(n).tasks]
        raise ConfigError(
            f"model.name: model '{name}' does not fit the {task!r} task of data set "
            f"'{getattr(dataset, 'name', '?')}' (it learns {', '.join(spec.tasks)}); "
            f"models for this task: {', '.join(fitting) or 'none'}"
        )
    return spec.builder()(
        input_shape=tuple(None if d is None else int(d) for d in dataset.input_shape),
        num_classes=int(dataset.num_classes),
        **resolved,
    )


def count_params(model, trainable_only=True):
    """The number of scalars in `model`'s (trainable) weights, each shared weight once.

    Tied input/output embeddings count once. Batch-norm moving statistics are
    not trainable, so they count only with `trainable_only=False`.
    """
    weights = model.trainable_weights if trainable_only else model.weights
    seen, total = set(), 0
    for weight in weights:
        if id(weight) in seen:
            continue
        seen.add(id(weight))
        total += math.prod(int(d) for d in weight.shape)
    return total


# --------------------------------------------------------------------------- sizing


def transformer_num_params(num_layers, d_model, mlp_dim, vocab, seq_len, tie_embeddings=True):
    """The exact trainable parameter count of `build_transformer` for these sizes.

    Token embedding `vocab*d`, position embedding `seq_len*d`, per block
    `4*d*d + 4*d` (attention: fused QKV and output projection, with biases)
    plus `2*d*mlp + mlp + d` (MLP) plus `4*d` (two LayerNorms), final
    LayerNorm `2*d`, and an output projection `d*vocab` (no bias) unless tied.
    The number of heads does not change the count.

    >>> transformer_num_params(2, 64, 256, vocab=256, seq_len=64)
    120576
    """
    d = d_model
    total = vocab * d + seq_len * d + transformer_non_embedding_params(num_layers, d, mlp_dim)
    if not tie_embeddings:
        total += d * vocab
    return total


def transformer_non_embedding_params(num_layers, d_model, mlp_dim):
    """The parameters of the blocks and the final LayerNorm: `transformer_num_params` less the
    token and position embeddings and any untied output projection (the N of `6 * N` FLOPs per
    token, `tfbsz.models.efficiency`).

    >>> transformer_non_embedding_params(12, 768, 3072)
    85056000
    """
    d = d_model
    block = 4 * d * d + 4 * d + 2 * d * mlp_dim + mlp_dim + d + 4 * d
    return num_layers * block + 2 * d


def transformer_config_for_params(target_params, vocab, seq_len, tie_embeddings=True):
    """A GPT-style `model:` section with about `target_params` parameters.

    Searches widths `d_model` in multiples of 128 (tensor-core friendly; heads
    of size 64, `mlp_dim = 4*d_model`) and depths 1..48. Among the shapes
    within 5% of the target it takes the one whose width/depth ratio is
    closest to 64 (GPT-2 small is 768/12); when none is that close, the one
    whose count is nearest in log scale.

    Args:
        target_params: the parameter count wanted, e.g. `25e6` or `135e6`.
        vocab: vocabulary size (the data set's `num_classes`).
        seq_len: sequence length (the data set's `input_shape[0]`).
        tie_embeddings: whether the output projection reuses the token embedding.

    Returns:
        A dict accepted by `build`: name, num_layers, d_model, num_heads,
        mlp_dim, dropout (0.0) and tie_embeddings.

    >>> cfg = transformer_config_for_params(135e6, vocab=256, seq_len=1024)
    >>> cfg["num_layers"], cfg["d_model"], cfg["num_heads"], cfg["mlp_dim"]
    (14, 896, 14, 3584)
    """
    if not isinstance(target_params, (int, float)) or not target_params >= 1e4:
        raise ConfigError(f"target_params: expected a number >= 10000, got {target_params!r}")
    best = None
    for d_model in range(128, 8192 + 1, 128):
        for num_layers in range(1, 49):
            count = transformer_num_params(
                num_layers, d_model, 4 * d_model, vocab, seq_len, tie_embeddings
            )
            size_error = abs(math.log(count / target_params))
            shape_error = abs(math.log(d_model / num_layers / 64.0))
            within_tolerance = size_error <= math.log(1.05)
            key = (0, shape_error) if within_tolerance else (1, size_error)
            if best is None or key < best[0]:
                best = (key, num_layers, d_model)
    _, num_layers, d_model = best
    return {
        "name": "transformer",
        "num_layers": num_layers,
        "d_model": d_model,
        "num_heads": d_model // 64,
        "mlp_dim": 4 * d_model,
        "dropout": 0.0,
        "tie_embeddings": tie_embeddings,
    }


# --------------------------------------------------------------------------- checks
# Shared by the model modules: each raises ConfigError naming `model.<key>`.


def require_int(key, value, minimum=1):
    """`value` as an int if it is an integer >= `minimum` (bools rejected); ConfigError otherwise."""
    return checks.integer(value, f"model.{key}", minimum=minimum)


def require_int_list(key, value, length=None, allow_empty=True):
    """`value` as a list of positive integers (of `length` items if given)."""
    what = f"a list of {length} integers >= 1" if length is not None else "a list of integers >= 1"
    items = checks.list_of(value, f"model.{key}", checks.integer, what, nonempty=not allow_empty)
    if length is not None and len(items) != length:
        raise ConfigError(f"model.{key}: expected {what}, got {checks.describe(value)}")
    return items


def require_fraction(key, value):
    """`value` as a float in [0, 1); ConfigError otherwise."""
    return checks.number(value, f"model.{key}", 0, 1, high_open=True)


def require_bool(key, value):
    """`value` if it is True or False; ConfigError otherwise."""
    return checks.boolean(value, f"model.{key}")


def require_choice(key, value, choices):
    """`value` if it is one of `choices`; ConfigError listing them otherwise."""
    return checks.choice(value, f"model.{key}", choices)


def require_image_shape(model_name, input_shape):
    """`input_shape` if it is `(height, width, channels)`; ConfigError otherwise."""
    if len(input_shape) != 3:
        raise ConfigError(
            f"model.name: model '{model_name}' needs images of shape (height, width, channels), "
            f"got input shape {tuple(input_shape)} (rank {len(input_shape)})"
        )
    return tuple(input_shape)
