"""tfbsz: batch-size scaling studies for Keras 3.

Measure the steps a workload needs to reach a target as a function of batch size, with every
batch size tuned (KerasTuner, quasi-random search), and train at large batch with LARS, LAMB,
warmup, learning-rate scaling, mixed precision and data-parallel strategies.

Public API (imported lazily, so `import tfbsz` stays light and the analysis tools and the
TensorBoard plugin never pull in Keras or TensorFlow):

* `Study`: run a study from a config dict or YAML file (`tfbsz.study`).
* `StepsToTarget`: the Keras callback measuring steps to a target, for any `model.fit`.
* `LARS`, `LAMB`: large-batch optimizers (`tfbsz.optimizers`).
* `GradientNoiseScale`: callback estimating the gradient noise scale (`tfbsz.training.noise_scale`).
* `load_config`: read and check a YAML config (`tfbsz.core.config`).
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
_SERIALIZABLES = ("tfbsz.optimizers", "tfbsz.training.schedules", "tfbsz.training.pruning")


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
    "StepsToTarget": ("tfbsz.study.callbacks", "StepsToTarget"),
    "LARS": ("tfbsz.optimizers", "LARS"),
    "LAMB": ("tfbsz.optimizers", "LAMB"),
    "GradientNoiseScale": ("tfbsz.training.noise_scale", "GradientNoiseScale"),
    "load_config": ("tfbsz.core.config", "load_config"),
    "fit_critical_batch": ("tfbsz.analysis", "fit_critical_batch"),
    "ConfigError": ("tfbsz.core.errors", "ConfigError"),
    "TfbszError": ("tfbsz.core.errors", "TfbszError"),
}

# Public subpackages and modules, by the short name users know (`tfbsz.results`, ...), and where
# each one lives in the layered layout (docs/architecture.md).
_SUBMODULES = {
    "analysis": "tfbsz.analysis",
    "callbacks": "tfbsz.study.callbacks",
    "config": "tfbsz.core.config",
    "data": "tfbsz.data",
    "models": "tfbsz.models",
    "optimizers": "tfbsz.optimizers",
    "pruning": "tfbsz.training.pruning",
    "regularizers": "tfbsz.training.regularizers",
    "report": "tfbsz.report",
    "results": "tfbsz.records.results",
    "schedules": "tfbsz.training.schedules",
    "strategies": "tfbsz.strategies",
    "study": "tfbsz.study",
    "summary": "tfbsz.records.summary",
    "tuning": "tfbsz.study.tuning",
}

# Module paths of the flat layout before 0.2 (`import tfbsz.config`), kept importable: each
# resolves to the module object at its new place, so there is one module, not two copies.
_FORMER_PATHS = {
    "tfbsz.errors": "tfbsz.core.errors",
    "tfbsz.registry": "tfbsz.core.registry",
    "tfbsz.config": "tfbsz.core.config",
    "tfbsz.trainer": "tfbsz.study.trainer",
    "tfbsz.callbacks": "tfbsz.study.callbacks",
    "tfbsz.distributed": "tfbsz.study.distributed",
    "tfbsz.progress": "tfbsz.study.progress",
    "tfbsz.tuning": "tfbsz.study.tuning",
    "tfbsz.schedules": "tfbsz.training.schedules",
    "tfbsz.regularizers": "tfbsz.training.regularizers",
    "tfbsz.pruning": "tfbsz.training.pruning",
    "tfbsz.accumulation": "tfbsz.training.accumulation",
    "tfbsz.noise_scale": "tfbsz.training.noise_scale",
    "tfbsz.results": "tfbsz.records.results",
    "tfbsz.summary": "tfbsz.records.summary",
    "tfbsz.tb_logging": "tfbsz.records.tb_logging",
    "tfbsz.hparams_logging": "tfbsz.records.hparams_logging",
}


class _FormerPathLoader(importlib.abc.Loader):
    def __init__(self, target):
        self.target = target

    def create_module(self, spec):
        module = importlib.import_module(self.target)
        self.own_spec = module.__spec__
        return module

    def exec_module(self, module):
        module.__spec__ = self.own_spec  # the import system set the former path's spec; keep the module's own


class _FormerPaths(importlib.abc.MetaPathFinder):
    """Lets `import tfbsz.config` (and the other former flat paths) find the moved module."""

    def find_spec(self, name, path=None, target=None):
        new = _FORMER_PATHS.get(name)
        if new is None:
            return None
        return importlib.util.spec_from_loader(name, _FormerPathLoader(new))


if not any(isinstance(f, _FormerPaths) for f in sys.meta_path):
    sys.meta_path.append(_FormerPaths())

__all__ = ["__version__", *_LAZY, *_SUBMODULES]


def __getattr__(name):
    if name in _LAZY:
        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = importlib.import_module(_SUBMODULES[name])
        globals()[name] = module
        return module
    raise AttributeError(f"module 'tfbsz' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
