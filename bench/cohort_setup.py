"""Where a cohort's time goes: per-member set-up, first-run compilation, training.

Runs the same cohort of N trials twice with `run_cohort` (the second run reuses the compiled
programs) on a config's workload at one batch size, with an unreachable target so every member
trains its whole budget, and prints one JSON line:

* `setup_s`: the members' set-up (each model built as `run_trial` builds it), summed;
* `first_s`, `second_s`: wall time of each whole `run_cohort` call;
* `compile_s`: first minus second (tracing and compiling the two programs, building the template);
* `setup_fraction`: set-up over the second call's wall time (issue 10 asks <= 5% of a study);
* `trial_steps_per_s`: members x budget updates over the second call's wall time;
* `jax_compile`: JAX's own durations over both calls (`jax.monitoring`): tracing, lowering to
  MLIR and the backend's compilation (on GPUs including XLA's autotuning), and the engine's
  `compile_s` (the first calls of its programs); `xla_flags` is the `XLA_FLAGS` it ran under.

    KERAS_BACKEND=jax python bench/cohort_setup.py --config configs/transformer.yaml \\
        --batch-size 32 --members 16 --steps 800

Example (the numbers it derives):

>>> summarize(setup=[0.1, 0.1], first=12.0, second=4.0, members=2, steps=100)["setup_fraction"]
0.05
"""

import argparse
import json
import time

__all__ = ["summarize", "main"]


def summarize(setup, first, second, members, steps):
    """The derived numbers of one measurement (see the module docstring)."""
    return {
        "members": members,
        "steps": steps,
        "setup_s": round(sum(setup), 4),
        "setup_per_member_s": round(sum(setup) / len(setup), 4),
        "first_s": round(first, 3),
        "second_s": round(second, 3),
        "compile_s": round(first - second, 3),
        "setup_fraction": round(sum(setup) / second, 4),
        "trial_steps_per_s": round(members * steps / second, 1),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="configs/transformer.yaml")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--members", type=int, default=16)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--devices", default=None, help='"all" to shard the trial axis over local devices')
    args = parser.parse_args(argv)

    import os

    import jax

    from tfbsz import data
    from tfbsz.core.config import TARGET_METRICS, load_config
    from tfbsz.study.cohorts import CohortMember, run_cohort

    cfg = load_config(args.config, [f"budget.max_steps={args.steps}"])
    target = cfg.target
    direction = target.direction or TARGET_METRICS.get(target.metric, "min")
    target.threshold = 0.0 if direction == "min" else 1.0  # unreachable: every member trains it all
    dataset = data.load(cfg.data, seed=cfg.seed)
    lr = cfg.optimizer.learning_rate
    members = [CohortMember({"optimizer.learning_rate": lr * (0.5 + i / args.members)}, seed=i, trial_id=str(i))
               for i in range(args.members)]
    durations = {}

    def listen(event, seconds, **_):
        if event.startswith("/jax/core/compile/"):
            name = event.rsplit("/", 1)[-1]
            durations[name] = durations.get(name, 0.0) + seconds

    jax.monitoring.register_event_duration_secs_listener(listen)
    walls, results, first_results = [], None, None
    for _ in range(2):
        started = time.perf_counter()
        results = run_cohort(cfg, members, args.batch_size, dataset, devices=args.devices)
        walls.append(time.perf_counter() - started)
        first_results = first_results or results
    setup = [r.extra["cohort"]["setup_s"] for r in results]
    report = summarize(setup, walls[0], walls[1], args.members, args.steps)
    report["jax_compile"] = {k: round(v, 3) for k, v in sorted(durations.items())}
    report["jax_compile"]["engine_compile_s"] = first_results[0].extra["cohort"]["compile_s"]
    report["xla_flags"] = os.environ.get("XLA_FLAGS", "")
    report.update(config=args.config, batch_size=args.batch_size, outcomes=sorted({r.outcome for r in results}))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
