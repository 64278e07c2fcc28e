"""Every key of a study config, once: its path, type and range, default and a one-line doc.

`KEYS` is the one table the config is checked against (`tfbsz.core.config`) and the config
reference (docs/config.md) is generated from. Adding a key is one line in `KEYS`:

    Key("search.repeats", Integer(), 1, "runs per trial"),

A key whose default is `REQUIRED` must be set; a key whose default is None may be null (unset);
any other key must hold a value of its type. Sections are the key paths' prefixes. The sections
in `OPEN_SECTIONS` also take the options of the component they name (checked by that component).

Example:

>>> from tfbsz.core.schema import KEYS, key
>>> key("optimizer.learning_rate").spec.check(0, "optimizer.learning_rate")
Traceback (most recent call last):
...
tfbsz.core.errors.ConfigError: optimizer.learning_rate: expected a number > 0, got 0
>>> key("search.trials").default, key("search.trials").spec.type_name
(4, 'integer')
"""

import dataclasses

from tfbsz.core import checks
from tfbsz.core.errors import ConfigError
from tfbsz.core.targets import DIRECTIONS

__all__ = [
    "Key",
    "KEYS",
    "REQUIRED",
    "OPEN_SECTIONS",
    "SECTIONS",
    "TARGET_METRICS",
    "SCALING_RULES",
    "key",
    "reference_markdown",
    "Number",
    "Integer",
    "Choice",
    "Metric",
    "String",
    "Patterns",
    "Flag",
    "Either",
    "BatchSizes",
    "SearchSpace",
]


class _Required:
    def __repr__(self):
        return "REQUIRED"


REQUIRED = _Required()

# The metrics a study's models produce, named as in Shallue et al.'s released data
# (cross-entropy in nats, classification error = 1 - accuracy). Each improves in the direction
# that `tfbsz.core.targets.default_direction` reads from its name.
TARGET_METRICS = ("val/cross_entropy_error", "val/classification_error", "val/accuracy", "train/cross_entropy_error")
SCALING_RULES = ("none", "linear", "sqrt")
SPACE_SCALES = ("linear", "log", "reverse_log")
SPACE_TYPES = ("float", "int")

# Sections whose other keys are the options of the component named by their `name`, checked
# against that component's `options(name)` when the study is set up.
OPEN_SECTIONS = ("data", "model", "optimizer", "schedule", "strategy")


# --------------------------------------------------------------------------- value types


class Number:
    """A finite real number in a range, stored as a float."""

    type_name = "number"

    def __init__(self, low=None, high=None, low_open=False, high_open=False):
        self.bounds = dict(low=low, high=high, low_open=low_open, high_open=high_open)

    def check(self, value, key, allow_none=False):
        return checks.number(value, key, allow_none=allow_none, **self.bounds)

    @property
    def range(self):
        return checks.range_text(**self.bounds).strip()

    @property
    def words(self):
        return f"a number{checks.range_text(**self.bounds)}"


class Integer:
    """An integer >= `minimum` (NumPy integers accepted, stored as int)."""

    type_name = "integer"

    def __init__(self, minimum=1):
        self.minimum = minimum

    def check(self, value, key, allow_none=False):
        return checks.integer(value, key, minimum=self.minimum, allow_none=allow_none)

    @property
    def range(self):
        return f">= {self.minimum}"

    @property
    def words(self):
        return f"an integer >= {self.minimum}"


class Choice:
    """One of a few values; a misspelling names the closest one."""

    type_name = "choice"

    def __init__(self, *choices):
        self.choices = choices

    def check(self, value, key, allow_none=False):
        return checks.choice(value, key, self.choices, allow_none=allow_none)

    @property
    def range(self):
        return " \\| ".join(map(str, self.choices))

    @property
    def words(self):
        return str(self.choices[0]) if len(self.choices) == 1 else f"one of {', '.join(map(str, self.choices))}"


class Metric(Choice):
    """One of the metrics the models produce; anything else is named as not produced."""

    type_name = "metric"

    def check(self, value, key, allow_none=False):
        if isinstance(value, str) and value in self.choices:
            return value
        hint = checks.closest_hint(value, self.choices)
        raise ConfigError(
            f"{key}: the models do not produce {checks.describe(value)}{hint}; valid metrics: {', '.join(self.choices)}"
        )


class _OneCheck:
    """A value type checked by one function of `tfbsz.core.checks`, `(value, key, allow_none)`."""

    type_name = range = ""
    function = None

    def check(self, value, key, allow_none=False):
        return type(self).function(value, key, allow_none=allow_none)


class String(_OneCheck):
    """A non-empty string."""

    type_name, words, function = "string", "a non-empty string", staticmethod(checks.string)


class Patterns(_OneCheck):
    """A list of regular expressions, each checked to compile."""

    type_name, range, function = "list of regexes", "Python `re` syntax", staticmethod(checks.regex_list)
    words = "a list of regular expressions"


class Flag(_OneCheck):
    """`true` or `false`."""

    type_name, range, function = "boolean", "true \\| false", staticmethod(checks.boolean)
    words = "true or false"


class Either:
    """A value of the first type that takes it, e.g. `Either(Integer(), Choice("auto"))`.

    The parts must have `words` (Number, Integer, Choice, String, Patterns, Flag).

    >>> Either(Integer(), Choice("auto")).check("often", "eval_every")
    Traceback (most recent call last):
    ...
    tfbsz.core.errors.ConfigError: eval_every: expected an integer >= 1 or auto, got 'often'
    >>> Either(Integer(), Choice("auto")).check(0, "eval_every")
    Traceback (most recent call last):
    ...
    tfbsz.core.errors.ConfigError: eval_every: expected an integer >= 1, got 0
    """

    def __init__(self, *specs):
        self.specs = specs
        self.type_name = " or ".join(s.type_name for s in specs)
        self.range = "; ".join(s.range for s in specs if s.range)
        self.words = " or ".join(s.words for s in specs)

    def check(self, value, key, allow_none=False):
        refusals = []
        for spec in self.specs:
            try:
                return spec.check(value, key, allow_none=allow_none)
            except ConfigError as refusal:
                refusals.append((spec, refusal))
        for spec, refusal in refusals:
            of_its_type = {"number": checks.is_number, "integer": checks.is_integer}.get(spec.type_name)
            if of_its_type is not None and of_its_type(value):
                raise refusal  # out of that type's range: its own message says which range
        or_null = " or null" if allow_none else ""
        raise ConfigError(f"{key}: expected {self.words}{or_null}, got {checks.describe(value)}")


class BatchSizes:
    """A non-empty list of distinct positive integers, stored sorted."""

    type_name = "list of integers"
    range = "distinct, >= 1"

    def check(self, value, key, allow_none=False):
        what = "a list of integers >= 1"
        sizes = checks.list_of(value, key, checks.integer, what, nonempty=True)
        if len(set(sizes)) != len(sizes):
            repeated = sorted({s for s in sizes if sizes.count(s) > 1})
            raise ConfigError(f"{key}: contains duplicates: {checks.describe(repeated)}")
        return sorted(sizes)


class SearchSpace:
    """`search.space`: config key path -> `{min, max, scale, type}` or `{values: [...]}`.

    Ranges get `scale: linear` and `type: float` when not given; values of a choice are all
    numbers (stored as floats when any is a float), all strings or all booleans.
    """

    type_name = "mapping"
    range = "key path -> {min, max, scale, type} or {values: [...]}"

    def check(self, value, key, allow_none=False):
        if value is None:
            return {}  # `space:` with nothing under it
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping of key path -> range, got {checks.describe(value)}")
        out = {}
        for path, spec in value.items():
            if not isinstance(path, str) or not path:
                raise ConfigError(f"{key}: keys must be config key paths (strings), got {checks.describe(path)}")
            out[path] = self._entry(f"{key}.{checks.shorten(path)}", spec)
        return out

    def _entry(self, label, spec):
        if not isinstance(spec, dict):
            raise ConfigError(f"{label}: expected {{min, max, scale}} or {{values: [...]}}, got {checks.describe(spec)}")
        if "values" in spec:
            extra = sorted(map(str, set(spec) - {"values"}))
            if extra:
                raise ConfigError(f"{label}.{checks.shorten(extra[0])}: unknown key; with 'values' no other key is allowed")
            return {"values": _choice_values(spec["values"], f"{label}.values")}
        allowed = ("min", "max", "scale", "type")
        for name in spec:
            if name not in allowed:
                hint = checks.closest_hint(name, allowed)
                raise ConfigError(f"{label}.{checks.shorten(name)}: unknown key{hint}; valid keys: max, min, scale, type, values")
        for name in ("min", "max"):
            if name not in spec:
                raise ConfigError(f"{label}.{name}: required for a range")
        entry = {
            "min": checks.number(spec["min"], f"{label}.min"),
            "max": checks.number(spec["max"], f"{label}.max"),
            "scale": checks.choice(spec.get("scale", "linear"), f"{label}.scale", SPACE_SCALES),
            "type": checks.choice(spec.get("type", "float"), f"{label}.type", SPACE_TYPES),
        }
        low, high = entry["min"], entry["max"]
        if entry["type"] == "int":
            for name in ("min", "max"):
                if not float(entry[name]).is_integer():
                    raise ConfigError(f"{label}.{name}: type int needs an integer, got {entry[name]!r}")
                entry[name] = int(entry[name])
        if not low < high:
            raise ConfigError(f"{label}: expected min < max, got min={low}, max={high}")
        if entry["scale"] == "log" and low <= 0:
            raise ConfigError(f"{label}.min: a log scale needs min > 0, got {low}")
        if entry["scale"] == "reverse_log" and not (0 <= low and high < 1):
            raise ConfigError(
                f"{label}: a reverse_log scale (uniform in log(1 - x)) needs 0 <= min < max < 1, "
                f"got min={low}, max={high}"
            )
        return entry


def _choice_values(values, key):
    """The values of a searched choice: one kind (numbers, strings or booleans), no repeats."""
    items = checks.list_of(values, key, _choice_value, "a non-empty list of numbers, strings or booleans",
                           nonempty=True)
    kinds = {_kind(v) for v in items}
    if len(kinds) > 1:
        raise ConfigError(f"{key}: mixes {' and '.join(sorted(kinds))}; give values of one kind")
    if kinds == {"numbers"} and any(isinstance(v, float) for v in items):
        items = [float(v) for v in items]
    if len(set(items)) != len(items):
        raise ConfigError(f"{key}: contains duplicates: {checks.describe(items)}")
    return items


def _choice_value(value, key):
    if isinstance(value, (str, bool)):
        return value
    if checks.is_number(value):
        return checks.number(value, key)
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return _choice_value(value.item(), key)
    raise ConfigError(f"{key}: expected a number, string or true/false, got {checks.describe(value)}")


def _kind(value):
    return "booleans" if isinstance(value, bool) else "strings" if isinstance(value, str) else "numbers"


# --------------------------------------------------------------------------- the keys


@dataclasses.dataclass(frozen=True)
class Key:
    """One config key: its dotted path, value type (with range), default and one-line doc."""

    path: str
    spec: object
    default: object
    doc: str


KEYS = (
    Key("name", String(), None, "the study's name, recorded in its files"),
    Key("seed", Integer(minimum=0), 0, "seeds the data order, the trials' initialisation and the search sequence's scrambling"),
    Key("output", String(), "runs/study", "the study folder (`--output` overrides it)"),
    Key("backend", Choice("tensorflow", "jax"), None,
        "the Keras backend `python -m tfbsz.run` imports; `KERAS_BACKEND` in the environment takes precedence; null: Keras's own default"),
    Key("precision", Choice("float32", "mixed_float16", "mixed_bfloat16"), "float32",
        "Keras dtype policy; mixed policies keep float32 weights"),
    Key("data.name", String(), REQUIRED, "the data set, e.g. `digits`, `mnist5k`, `stdlib_text`, `tfds:mnist`"),
    Key("model.name", String(), REQUIRED, "the model, e.g. `mlp`, `simple_cnn`, `resnet`, `transformer`"),
    Key("optimizer.name", String(), "momentum", "the optimizer, e.g. `momentum`, `adam`, `lars`, `lamb` (docs/optimizers.md)"),
    Key("optimizer.learning_rate", Number(low=0, low_open=True), 0.1,
        "the learning rate (searched when `search.space` names it)"),
    Key("schedule.name", String(), "constant",
        "the learning-rate schedule, e.g. `constant`, `linear_decay`, `cosine`, `one_cycle`"),
    Key("scaling.rule", Choice(*SCALING_RULES), "none",
        "with `search.metaparameters: rule`, how the base batch size's learning rate and warmup scale"),
    Key("regularization.label_smoothing", Number(0, 1, high_open=True), 0.0, "label smoothing of the loss"),
    Key("regularization.mixup_alpha", Number(low=0), 0.0,
        "mixup's Beta(alpha, alpha) parameter; 0 turns mixup off (image classification only)"),
    Key("sparsity.method", Choice("none", "random", "magnitude", "snip"), "none", "pruning at initialisation"),
    Key("sparsity.level", Number(0, 1, high_open=True), 0.0, "the fraction of weights pruned"),
    Key("sparsity.batches", Integer(), 10, "batches over which `snip` sums its gradients"),
    Key("sparsity.include", Patterns(), None,
        "variable paths to prune (regexes searched in each path); null: every trainable variable of rank >= 2"),
    Key("init.from", String(), None, "a saved `.keras` model whose variables start every trial"),
    Key("init.freeze", Patterns(), [], "layers whose path (or name) a regex matches are not trained"),
    Key("strategy.name", String(), "auto",
        "distribution strategy, e.g. `auto` (fits the devices present), `mirrored`, `tpu` (docs/strategies.md)"),
    Key("max_device_batch", Integer(), None,
        "most examples one replica processes at once; larger batches accumulate gradients"),
    Key("target.metric", Metric(*TARGET_METRICS), REQUIRED, "the measurement that must beat the threshold"),
    Key("target.threshold", Number(), REQUIRED, "a trial reaches the target at the first evaluation strictly beyond it"),
    Key("target.direction", Choice(*DIRECTIONS), None,
        "`min` (lower is better) or `max`; null: from the metric's name (`tfbsz.core.targets`)"),
    Key("budget.max_steps", Integer(), None, "a trial's budget in optimizer updates (set one of the three)"),
    Key("budget.epochs", Number(low=0, low_open=True), None, "a trial's budget in passes over the training set"),
    Key("budget.examples", Integer(), None, "a trial's budget in training examples"),
    Key("budget.stop_when_beaten", Flag(), False,
        "end a trial as `beaten` once it can no longer reach the target in fewer steps than the batch size's best"),
    Key("eval_every", Either(Integer(), Choice("auto")), 50,
        "optimizer updates between evaluations, or `auto`: a grid spaced at 5% of the step count (docs/analysis.md section 11)"),
    Key("eval_examples", Integer(), None, "held-out examples per evaluation; null: all"),
    Key("batch_sizes", BatchSizes(), REQUIRED, "the batch sizes measured (`--batch-sizes` overrides them)"),
    Key("search.algorithm", Choice("halton", "sobol"), "halton", "the quasi-random sequence the trials follow"),
    Key("search.trials", Integer(), 4, "trials per batch size (`--trials` overrides it)"),
    Key("search.parallel_trials", Either(Integer(), Choice("auto")), "auto",
        "trials trained at once as one program (JAX); `auto`: measured per batch size"),
    Key("search.metaparameters", Choice("tune", "rule"), "tune",
        "`tune`: search every batch size; `rule`: search the base batch size, scale the rest by `scaling.rule`"),
    Key("search.base_batch_size", Integer(), None, "the base batch size under `rule`; null: the smallest"),
    Key("search.space", SearchSpace(), {}, "the searched keys; empty: one trial per batch size"),
    Key("noise_scale.enabled", Flag(), False, "measure the gradient noise scale B_simple during training"),
    Key("noise_scale.every", Integer(), 100, "optimizer updates between noise-scale estimates"),
    Key("noise_scale.small_batch", Integer(), None, "the estimator's small batch; null: the micro-batch / 8"),
    Key("noise_scale.big_batch", Integer(), None, "the estimator's big batch; null: the micro-batch"),
    Key("logging.tensorboard", Flag(), True, "write TensorBoard event files (scalars, HParams)"),
    Key("logging.progress", Choice("auto", "rich", "plain", "none"), "auto", "the live progress display"),
    Key("save_models", Choice("none", "best", "all"), "none",
        "keep trained models: every trial's, or only the best trial's as `best_model.keras`"),
)

_BY_PATH = {k.path: k for k in KEYS}
SECTIONS = tuple(dict.fromkeys(k.path.rsplit(".", 1)[0] for k in KEYS if "." in k.path))


def key(path):
    """The `Key` at `path`; a KeyError when the schema has none."""
    return _BY_PATH[path]


# --------------------------------------------------------------------------- reference


def _default_text(default):
    if default is REQUIRED:
        return "required"
    if default is None:
        return "null"
    if isinstance(default, bool):
        return "true" if default else "false"
    if default == {} or default == []:
        return "`{}`" if default == {} else "`[]`"
    return f"`{default}`"


def reference_markdown():
    """docs/config.md: every key with its type, default, range and doc, generated from `KEYS`."""
    lines = [
        "# Config reference",
        "",
        "<!-- Generated from tfbsz/core/schema.py by `python -m tfbsz.core.schema > docs/config.md`;",
        "     tests/core/test_config_schema.py fails when this file is out of date. -->",
        "",
        "Every key of a study config (YAML, or a dict given to `tfbsz.Study`). Unknown keys are",
        "refused with the closest valid name; every error is one line that starts with the key path.",
        "`required` keys must be set; a key whose default is `null` may stay unset. The sections",
        ", ".join(f"`{s}`" for s in OPEN_SECTIONS) + " also take the options of the component",
        "they name (see [tricks.md](tricks.md), [optimizers.md](optimizers.md),",
        "[strategies.md](strategies.md)).",
        "",
        "| key | type | default | allowed | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for k in KEYS:
        lines.append(f"| `{k.path}` | {k.spec.type_name} | {_default_text(k.default)} | {k.spec.range} | {k.doc} |")
    lines += [
        "",
        "Rules across keys: exactly one of `budget.max_steps`, `budget.epochs`, `budget.examples`;",
        "`target.direction` must agree with the metric; `search.space` keys are config key paths; mixup",
        "needs an image classification data set.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(reference_markdown(), end="")
