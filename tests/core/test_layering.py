"""The layering rules of docs/architecture.md, checked on the code so the two cannot drift.

* Keras-free packages (`core`, `records`, `analysis`, `tb_plugin`) and the two commands import
  neither Keras, KerasTuner, TensorFlow, JAX nor gRPC, at module level or through anything they
  import (checked by importing every one of their modules in a fresh interpreter).
* TensorFlow is imported at module level only by the TensorFlow-only modules, JAX only by the
  JAX-only ones; everywhere else they are imported lazily, inside the function that needs them.
* The package table of docs/architecture.md names every package, and says "no Keras" for exactly
  the Keras-free ones.
"""

import ast
import json
import pathlib
import re
import subprocess
import sys

from helpers import ROOT, subprocess_env

PACKAGE = pathlib.Path(ROOT) / "tfbsz"
KERAS_FREE = ("core", "records", "analysis", "tb_plugin")
KERAS_FREE_MODULES = ("run.py", "report.py")
HEAVY = ("keras", "keras_tuner", "tensorflow", "tensorflow_datasets", "jax", "jaxlib", "grpc")
TENSORFLOW_ONLY = ("data/tfds_source.py", "data/tf_pipeline.py", "strategies/mirrored.py", "strategies/tpu.py",
                   "strategies/multi_worker.py", "strategies/tf_wrapper.py")
JAX_ONLY = ("models/jax_logits.py", "strategies/jax_data_parallel.py")


def module_level_imports(path):
    """Top-level package names imported when the module itself is executed (not in functions)."""
    names = set()
    pending = list(ast.parse(path.read_text()).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                pending.extend(getattr(node, field, []))
        elif isinstance(node, ast.ExceptHandler):
            pending.extend(node.body)
    return names


def source_files():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def relative(path):
    return path.relative_to(PACKAGE).as_posix()


def test_tensorflow_and_jax_only_where_the_layout_allows():
    wrong = []
    for path in source_files():
        name = relative(path)
        imports = module_level_imports(path)
        if imports & {"tensorflow", "tensorflow_datasets"} and name not in TENSORFLOW_ONLY:
            wrong.append(f"{name} imports TensorFlow at module level")
        if imports & {"jax", "jaxlib"} and name not in JAX_ONLY:
            wrong.append(f"{name} imports JAX at module level")
    assert not wrong, wrong


def test_keras_free_layers_import_no_heavy_package_even_indirectly():
    modules = []
    for path in source_files():
        name = relative(path)
        if name.split("/")[0] in KERAS_FREE or name in KERAS_FREE_MODULES:
            direct = module_level_imports(path) & set(HEAVY)
            assert not direct, f"{name} imports {sorted(direct)} at module level"
            dotted = "tfbsz." + name[:-3].replace("/", ".")
            modules.append(dotted.removesuffix(".__init__"))
    assert len(modules) > 20, modules
    script = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(json.dumps(sorted(n for n in {list(HEAVY)!r} if n in sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], env=subprocess_env("tensorflow"), cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_architecture_table_matches_the_packages():
    doc = (pathlib.Path(ROOT) / "docs" / "architecture.md").read_text()
    table = doc.split("## Packages at a glance", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `tfbsz/")]
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    for package in packages:
        row = [r for r in rows if f"`tfbsz/{package}/`" in r]
        assert len(row) == 1, f"docs/architecture.md: no single row for tfbsz/{package}/"
        says_keras_free = "no Keras" in row[0].rsplit("|", 2)[-2]
        assert says_keras_free == (package in KERAS_FREE), (package, row[0])
    for name in TENSORFLOW_ONLY + JAX_ONLY:
        folder, file = name.split("/")
        stem = file[:-3]
        assert re.search(rf"{folder}/(\{{[^}}]*\b{stem}\b[^}}]*\}}|{stem})\.py", table), f"{name} not named in the table"
