"""Command line: run a batch-size study from a YAML config.

    python -m tfbsz.run --config configs/transformer.yaml
    python -m tfbsz.run --config configs/smoke.yaml --output runs/smoke --set optimizer.learning_rate=0.05
    python -m tfbsz.run --config configs/transformer.yaml --output runs/t --resume

Distributed tuning (KerasTuner's chief/worker mode; every process sees the same --output):

    python -m tfbsz.run --config X --output runs/d --role chief  --oracle 127.0.0.1:8000
    python -m tfbsz.run --config X --output runs/d --role worker --oracle 127.0.0.1:8000   # any number

(a shared token, TLS and listening beyond this machine: see docs/distributed.md)

Bad input ends with one line `tfbsz: error: ...` and exit code 2 (`--debug` shows the traceback).
An interrupted study (Ctrl-C, a kill) continues with `--resume`: finished trials are kept.
"""

import argparse
import os
import signal
import sys
import threading

__all__ = ["main", "build_parser", "format_table", "choose_backend", "backend_note"]

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
MAX_ERROR_CHARS = 2000


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m tfbsz.run",
        description="Measure steps to reach a target as a function of batch size, tuning every batch size.",
    )
    parser.add_argument("--config", required=True, help="YAML study config (see configs/)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key, e.g. --set optimizer.learning_rate=0.1 (repeatable)")
    parser.add_argument("--batch-sizes", metavar="B1,B2,...", help="override batch_sizes, e.g. 16,32,64")
    parser.add_argument("--trials", type=int, metavar="N", help="override search.trials (trials per batch size)")
    parser.add_argument("--parallel-trials", metavar="N|auto",
                        help="override search.parallel_trials (trials trained at once, JAX backend)")
    parser.add_argument("--output", metavar="DIR", help="override output (the study folder)")
    parser.add_argument("--resume", action="store_true", help="continue the study already in the output folder")
    parser.add_argument("--progress", choices=("auto", "rich", "plain", "none"),
                        help="progress display (default: the config's logging.progress)")
    from tfbsz.study.distributed.options import add_arguments as add_distributed_arguments

    add_distributed_arguments(parser)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def _parse_batch_sizes(text):
    from tfbsz.core.errors import ConfigError

    sizes = []
    for part in text.split(","):
        part = part.strip()
        try:
            sizes.append(int(part))
        except ValueError:
            raise ConfigError(f"--batch-sizes: expected comma-separated integers, got {text!r}") from None
    return sizes


def format_table(summary):
    """The final table as plain text: batch size, steps to result, trial counts, parameters, time.

    A `beaten` column (`budget.stop_when_beaten`) appears when some trial was beaten.
    """
    counts = ["reached", "missed", "diverged"]
    if any(row.get("beaten") for row in summary["batch_sizes"]):
        counts.append("beaten")
    header = ("batch size", "steps to result", *counts, "wall time", "best metaparameters")
    lines = []
    for row in summary["batch_sizes"]:
        params = ", ".join(
            f"{k.split('.')[-1]}={v:.3g}" if isinstance(v, float) else f"{k.split('.')[-1]}={v}"
            for k, v in row["best_parameters"].items()
        )
        steps = "-" if row["steps_to_result"] is None else str(row["steps_to_result"])
        edges = row.get("at_search_edge") or []
        params = (params or "-") + (f"  [edge: {', '.join(n.split('.')[-1] for n in edges)}]" if edges else "")
        lines.append((str(row["batch_size"]), steps, *(str(row.get(c, 0)) for c in counts),
                      f"{row['wall_time_s']:.0f} s", params))
    widths = [max(len(h), *(len(r[i]) for r in lines)) if lines else len(h) for i, h in enumerate(header)]
    last = len(header) - 1
    fmt = lambda cells: "  ".join(c.rjust(w) if i < last else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    out = [fmt(header), fmt(["-" * w for w in widths])]
    out += [fmt(r) for r in lines]
    if any(row.get("at_search_edge") for row in summary["batch_sizes"]):
        from tfbsz.analysis.search_edges import WIDEN_HINT

        out.append(f"[edge: ...] best trial in the outer eighth of a searched range: {WIDEN_HINT}")
    return "\n".join(line.rstrip() for line in out)


def choose_backend(cfg, environ=None):
    """Sets `KERAS_BACKEND` from the config's `backend` key, before Keras is imported.

    `KERAS_BACKEND` already in the environment takes precedence (returned, so a note can say
    why the config's choice did not apply); without either, Keras picks its own default
    (`~/.keras/keras.json`, else TensorFlow).

    >>> env = {}
    >>> choose_backend({"backend": "jax"}, env), env
    (None, {'KERAS_BACKEND': 'jax'})
    >>> choose_backend({"backend": "jax"}, {"KERAS_BACKEND": "tensorflow"})
    'tensorflow'
    """
    environ = os.environ if environ is None else environ
    given = environ.get("KERAS_BACKEND")
    if given:
        return given
    if cfg.get("backend"):
        environ["KERAS_BACKEND"] = cfg["backend"]
    return None


def backend_note(wanted, running, from_environment):
    """One line when the backend that runs is not the config's `backend`, else None.

    >>> backend_note("jax", "tensorflow", "tensorflow")
    "backend: tensorflow (KERAS_BACKEND=tensorflow overrides the config's backend: jax)"
    >>> backend_note("jax", "jax", None) is None
    True
    """
    if not wanted or wanted == running:
        return None
    why = (f"KERAS_BACKEND={from_environment} overrides" if from_environment
           else "Keras was imported before the config was read; it ignores")
    return f"backend: {running} ({why} the config's backend: {wanted})"


def _import_backend_quietly(debug):
    """Imports Keras and its backend with stderr silenced (TensorFlow's C++ start-up lines).

    Bad input must end in one line on stderr; TensorFlow writes several lines at import time,
    before its log-level settings apply. `--debug` keeps them.
    """
    if debug:
        import keras  # noqa: F401
        import keras_tuner  # noqa: F401

        return
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import keras  # noqa: F401

            if keras.backend.backend() == "tensorflow":
                import tensorflow  # noqa: F401
            import keras_tuner  # noqa: F401  (imports TensorFlow for file I/O when it is installed)

            keras.utils.set_random_seed(0)  # seeds (so imports) TensorFlow too when it is installed
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:
        pass


def _run(args):
    from tfbsz.core.config import from_dict, load_config, set_path
    from tfbsz.core.errors import ConfigError

    overrides = list(args.set)
    if args.parallel_trials is not None:
        overrides.append(f"search.parallel_trials={args.parallel_trials}")
    cfg = load_config(args.config, overrides)
    if args.trials is not None and args.trials < 1:
        raise ConfigError(f"--trials: expected an integer >= 1, got {args.trials}")
    flags = {"output": args.output, "search.trials": args.trials, "logging.progress": args.progress,
             "batch_sizes": _parse_batch_sizes(args.batch_sizes) if args.batch_sizes else None}
    given = {path: value for path, value in flags.items() if value is not None}
    for path, value in given.items():
        set_path(cfg, path, value)
    if given:
        cfg = from_dict(cfg)  # the flags' values are checked (and batch sizes sorted) like the file's
    from_environment = choose_backend(cfg)  # before anything imports Keras
    from tfbsz.study.distributed.options import configure as configure_distributed

    configure_distributed(args, batch_sizes=len(cfg.batch_sizes or ()))
    from tfbsz.study.study import Study

    Study(cfg, resume=args.resume, role=args.role).check_before_keras()  # seconds before Keras loads
    _import_backend_quietly(args.debug)
    import keras

    note = backend_note(cfg["backend"], keras.backend.backend(), from_environment)
    if note:
        print(note)
    cfg["backend"] = keras.backend.backend()  # the study's files record the backend that ran

    from tfbsz.study.progress import make_progress

    progress = make_progress(cfg.logging.progress, metric=cfg.target.metric)
    study = Study(cfg, resume=args.resume, progress=progress, role=args.role)
    summary = study.run()
    if args.role == "worker":
        print(f"worker done: {study.root}")
        return 0
    from tfbsz.core.targets import Target

    target = Target.from_dict(cfg.target)
    print()
    print(f"steps to reach {target} ({cfg.data.name}, {cfg.model.name}, {cfg.optimizer.name}):")
    print(format_table(summary))
    print(f"\nresults: {study.root}  (summary.csv, summary.json; per-trial files in Shallue et al.'s layout)")
    return 0


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        # A process started in the background by a non-interactive shell inherits SIGINT as
        # "ignored", and Python then never raises KeyboardInterrupt: make Ctrl-C / SIGINT always
        # stop the study cleanly (finished trials are kept; --resume continues).
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if not args.debug:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tfbsz.core.errors import TfbszError

    try:
        return _run(args)
    except TfbszError as e:
        if args.debug:
            raise
        message = " ".join(str(e).split())
        if len(message) > MAX_ERROR_CHARS:  # a backstop: messages describe input values briefly
            message = message[: MAX_ERROR_CHARS - 3] + "..."
        print(f"tfbsz: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("\ntfbsz: interrupted; finished trials are saved. Continue with --resume.", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
