"""tfbsz: batch-size scaling studies for Keras 3.

Measure the steps a workload needs to reach a target as a function of batch size, with every
batch size tuned (KerasTuner, quasi-random search), and train at large batch with LARS, LAMB,
warmup, learning-rate scaling, mixed precision and data-parallel strategies.

Public API (imported lazily, so `import tfbsz` stays light and the analysis tools and the
TensorBoard plugin never pull in Keras or TensorFlow):

* `Study`: run a study from a config dict or YAML file (`tfbsz.study`).
* `StepsToTarget`: the Keras callback measuring steps to a target, for any `model.fit`.
* `LARS`, `LAMB`: large-batch optimizers (`tfbsz.optimizers`).
* `GradientNoiseScale`: callback estimating the gradient noise scale (`tfbsz.noise_scale`).
* `load_config`: read and check a YAML config (`tfbsz.config`).
* `fit_critical_batch`: fit S(B) = S_min (1 + B_crit / B) to a study (`tfbsz.analysis`).
* Subpackages: `analysis`, `config`, `data`, `models`, `optimizers`, `pruning`, `results`,
  `schedules`, `strategies`, `tuning`.

Example:

>>> import tfbsz
>>> tfbsz.__version__
'0.1.0'
>>> "Study" in tfbsz.__all__
True
"""

import importlib
import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"

# Modules whose classes Keras must find when it loads a saved `.keras` file (LARS, LAMB,
# schedules, pruning masks), so `import tfbsz` is all a user needs before `load_model`.
_SERIALIZABLES = ("tfbsz.optimizers", "tfbsz.schedules", "tfbsz.pruning")


def _register_serializables():
    for module in _SERIALIZABLES:
        importlib.import_module(module)


class _AfterKerasImport(importlib.abc.MetaPathFinder):
    """Registers tfbsz's serializable classes as soon as Keras finishes importing.

    `import tfbsz` must not import Keras itself (the analysis tools and the TensorBoard plugin
    run without it), yet a model saved with tfbsz's optimizers should load after a plain
    `import tfbsz`. This finder wraps the loading of the `keras` package once.
    """

    def find_spec(self, name, path=None, target=None):
        if name != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module):
            original(module)
            try:
                _register_serializables()
            except Exception:  # never break `import keras`; explicit imports still work
                pass

        loader.exec_module = exec_module
        return spec


if "keras" in sys.modules:
    _register_serializables()
elif not any(isinstance(f, _AfterKerasImport) for f in sys.meta_path):
    sys.meta_path.insert(0, _AfterKerasImport())

_LAZY = {
    "Study": ("tfbsz.study", "Study"),
    "StepsToTarget": ("tfbsz.callbacks", "StepsToTarget"),
    "LARS": ("tfbsz.optimizers", "LARS"),
    "LAMB": ("tfbsz.optimizers", "LAMB"),
    "GradientNoiseScale": ("tfbsz.noise_scale", "GradientNoiseScale"),
    "load_config": ("tfbsz.config", "load_config"),
    "fit_critical_batch": ("tfbsz.analysis", "fit_critical_batch"),
    "ConfigError": ("tfbsz.errors", "ConfigError"),
    "TfbszError": ("tfbsz.errors", "TfbszError"),
}

_SUBMODULES = (
    "analysis",
    "callbacks",
    "config",
    "data",
    "models",
    "optimizers",
    "pruning",
    "regularizers",
    "report",
    "results",
    "schedules",
    "strategies",
    "study",
    "summary",
    "tuning",
)

__all__ = ["__version__", *_LAZY, *_SUBMODULES]


def __getattr__(name):
    if name in _LAZY:
        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = importlib.import_module(f"tfbsz.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'tfbsz' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
