"""Shared test utilities: run Python code or the CLI in a subprocess with a hard timeout."""

import importlib.util
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def subprocess_env(backend=None, **extra):
    """The environment for a child process: this repo importable, chosen Keras backend."""
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    if backend:
        env["KERAS_BACKEND"] = backend
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run_python(code, backend=None, timeout=300, cwd=None, **extra_env):
    """Runs `python -c code` and returns the CompletedProcess (text mode)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        env=subprocess_env(backend, **extra_env),
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_cli(args, backend=None, timeout=300, cwd=None, **extra_env):
    """Runs `python -m tfbsz.run ARGS` and returns the CompletedProcess (text mode)."""
    return subprocess.run(
        [sys.executable, "-m", "tfbsz.run", *args],
        env=subprocess_env(backend, **extra_env),
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def check_docstring_examples(module):
    """Runs the doctests of `module`: there must be some, and all must pass."""
    import doctest

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{module.__name__} has no examples"
    assert result.failed == 0


def load_script(relative_path, name):
    """The script at `relative_path` (from the repository root) as module `name`, imported once.

    bench/ is not a package and stays off sys.path: its file names (optimizers, scaling, ...) would
    shadow the test folders of the same names, which are namespace packages.
    """
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, relative_path))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def block_imports(*packages):
    """Python source that makes importing any of `packages` (and their submodules) raise ImportError.

    Put it first in a child process's code. A finder is used rather than `sys.modules[name] = None`,
    which would make `name in sys.modules` true (tfbsz reads that to tell whether Keras is loaded).
    """
    return (
        "import importlib.abc, sys\n"
        "class _Blocked(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.partition('.')[0] in {tuple(packages)!r}:\n"
        "            raise ImportError(name + ' is blocked in this test')\n"
        "sys.meta_path.insert(0, _Blocked())\n"
    )
