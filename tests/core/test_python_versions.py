"""The README's commands and scripts/test.sh work with any supported Python 3, not one minor version."""

import configparser
import glob
import os
import pathlib
import re
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIND_PYTHON = ROOT / "scripts" / "find_python.sh"


def _readme_commands():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", section, flags=re.S)


def test_readme_names_no_python_minor_version():
    install_and_run, run_tests = _readme_commands()
    assert install_and_run.startswith("python3 -m venv .venv && ")
    assert not re.search(r"python3\.\d", install_and_run)
    assert run_tests == "bash scripts/test.sh"
    test_sh = (ROOT / "scripts" / "test.sh").read_text()
    assert "scripts/find_python.sh" in test_sh and not re.search(r"python3\.\d", test_sh)
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("exec bash scripts/test.sh")


def test_find_python_minimum_is_setup_cfg_python_requires():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    requires = config["options"]["python_requires"].strip()
    minor = re.search(r"^MIN_MINOR=(\d+)", FIND_PYTHON.read_text(), flags=re.M).group(1)
    assert requires == f">=3.{minor}"


def _interpreter(minor):
    found = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/3.{minor}.*/bin/python3.{minor}")))
    found += [p for p in (shutil.which(f"python3.{minor}"),) if p]
    if not found:
        pytest.skip(f"no Python 3.{minor} on this machine")
    return found[0]


def _find_python(tmp_path, links, **env):
    """Runs find_python.sh with a PATH that holds only `links` (name -> real interpreter) and seq."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, target in {**links, "seq": shutil.which("seq")}.items():
        (bin_dir / name).symlink_to(target)
    return subprocess.run(["/bin/bash", str(FIND_PYTHON)], env={"PATH": str(bin_dir), **env},
                          capture_output=True, text=True, timeout=60)


def test_python3_is_used_when_it_is_supported(tmp_path):
    proc = _find_python(tmp_path, {"python3": _interpreter(13), "python3.10": _interpreter(10)})
    assert (proc.returncode, proc.stdout.strip()) == (0, "python3")


def test_a_newer_python_is_found_when_python3_is_too_old(tmp_path):
    proc = _find_python(tmp_path, {"python3": _interpreter(8), "python3.12": _interpreter(12),
                                   "python3.10": _interpreter(10)})
    assert (proc.returncode, proc.stdout.strip()) == (0, "python3.12")


def test_no_supported_python_is_one_line_and_exit_2(tmp_path):
    proc = _find_python(tmp_path, {"python3": _interpreter(9)})
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "no Python >= 3.10 found (python3 is Python 3.9" in proc.stderr


def test_python_variable_is_checked(tmp_path):
    proc = _find_python(tmp_path, {}, PYTHON=_interpreter(12))
    assert (proc.returncode, proc.stdout.strip()) == (0, _interpreter(12))
    old = tmp_path / "old"
    old.mkdir()
    proc = _find_python(old, {}, PYTHON=_interpreter(9))
    assert proc.returncode == 2 and "is not a Python >= 3.10" in proc.stderr


def test_readme_venv_step_works_with_another_supported_python(tmp_path):
    """The README's first step, `python3 -m venv .venv`, with python3 a Python other than 3.11."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(_interpreter(12))
    step = _readme_commands()[0].split(" && ")[0].replace(" .venv", " --without-pip .venv")
    subprocess.run(["/bin/bash", "-c", step], cwd=tmp_path, env={"PATH": str(bin_dir)}, check=True, timeout=120)
    version = subprocess.run([str(tmp_path / ".venv" / "bin" / "python"), "--version"],
                             capture_output=True, text=True, check=True).stdout
    assert version.startswith("Python 3.12")
