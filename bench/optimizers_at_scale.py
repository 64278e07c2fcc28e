"""Whole training step at scale: tfbsz LAMB against Keras Adam, tfbsz LARS against Keras momentum.

Issue 15 item 2: the goal is LAMB <= 1.02x Adam and LARS <= 1.02x SGD+momentum for the whole
training step of a tfbsz `transformer` (byte vocabulary, sequence 1024, batch 32, JAX,
`mixed_bfloat16`) at 86M and about 350M parameters.

What is timed: Keras's own JAX training step (`model.train_step`, what `fit` runs each step:
forward, loss, gradients, `optimizer.stateless_apply`, loss tracker), `--steps` steps inside
one `jax.lax.fori_loop` of one jitted program with the state donated, so no Python, host
transfer or dispatch enters the time (`fit` measurements drifted by 35% and gave 1.00-1.34x
per round). Every optimizer trains its own copy of the model from the same initial weights
on the same fixed batch. After compiling, `--rounds` rounds time every optimizer once each,
the order rotated every round; the result per optimizer is the median over rounds of its
time divided by its baseline's time in the same round (paired), with the range of those
ratios. Baselines: Keras Adam for Adam-like optimizers, Keras SGD+momentum for momentum-like.

Controls and diagnosis:
* `keras_adam_again` / `keras_momentum_again`: the baseline compiled a second time, a
  separate program: its ratio is this run's floor (compile-to-compile differences, such
  as another GEMM algorithm picked by autotuning, plus timing noise);
* `tfbsz_lamb_allgrouped` (default at the first size): the norms of same-shape tensors
  stacked whatever their size, as tfbsz did before `trust_ratio.MAX_GROUPED_ELEMENTS`
  (stacking materialises copies of the weights and updates); `tfbsz_lamb_separate`,
  `tfbsz_lars_separate`: one reduction per tensor;
* per optimizer, at the sizes of `--update-sizes` (the first by default), the update
  alone (a jitted loop of `stateless_apply` with gradients rescaled every pass,
  `bench/optimizers.py`'s `JaxTimer`) and its difference to the baseline's:
  when the whole-step difference in ms is much larger than the update's own, the cost
  is not the update's work but how it changes the compiled step;
* kernels: fusions, library calls and unfused reductions in the compiled loop body.

Compilation: the first optimizer of a size compiles alone (filling XLA's in-process
autotuning cache for the model's GEMMs), the others in `--compile-workers` threads.

Examples:
    # GPU (one H200, about 4-5 minutes, most of it compiling):
    KERAS_BACKEND=jax python bench/optimizers_at_scale.py --sizes 86m,350m --out results/
    # CPU check with a tiny model:
    KERAS_BACKEND=jax python bench/optimizers_at_scale.py --sizes tiny --rounds 2 --steps 2 \\
        --policy float32 --out /tmp/at_scale

Prints one table per size and writes `<out>/optimizers_at_scale_<size>.json` as each size
finishes (a run cut short keeps the sizes already done).
"""

import argparse
import concurrent.futures
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from optimizers import EXTRA, JaxTimer, count_kernels, machine, optimizers  # noqa: E402
from tfbsz.models.transformer import build_transformer  # noqa: E402

VOCAB = 256  # bytes
SIZES = {
    # name: (sequence, d_model, layers, heads, batch)
    "tiny": (32, 64, 2, 2, 2),
    "86m": (1024, 768, 12, 12, 32),  # issue 15's shape: 86.0M parameters
    "350m": (1024, 1536, 12, 12, 32),  # 341.7M: the 86M model, twice as wide
}
STEPS = {"tiny": 2, "86m": 10, "350m": 4}  # steps per timed loop: about 0.8-1 s on an H200
BASELINES = {"adam": "keras_adam", "momentum": "keras_momentum"}
DEFAULT_SET = "keras_adam,tfbsz_lamb,keras_momentum,tfbsz_lars"


def factories():
    """name -> (make optimizer, baseline name)."""
    made = {**optimizers(), **EXTRA}
    made["keras_adam_again"] = made["keras_adam"]
    made["keras_momentum_again"] = made["keras_momentum"]
    return {
        name: (make, BASELINES["momentum" if name.startswith(("keras_momentum", "tfbsz_lars"))
                               else "adam"])
        for name, make in made.items()
    }


def model_for(size):
    sequence, width, layers, heads, _ = SIZES[size]
    return build_transformer((sequence,), VOCAB, num_layers=layers, d_model=width,
                             num_heads=heads, mlp_dim=4 * width)


class WholeStepLoop:
    """`n` of Keras's JAX training steps in one jitted `fori_loop` (state donated)."""

    def __init__(self, model, optimizer, weights, batch):
        self.model = model
        model.compile(optimizer=optimizer,
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.set_weights(weights)
        optimizer.build(model.trainable_variables)
        # Keras's private state accessor, as its JAX trainer uses it (benchmark only); copied,
        # since the loop donates it and the variables keep theirs.
        state = model._get_jax_state(
            trainable_variables=True, non_trainable_variables=True,
            optimizer_variables=True, metrics_variables=True, purge_model_variables=False)
        self.state = jax.tree.map(jax.numpy.copy, state)
        self.batch = tuple(jax.numpy.asarray(b) for b in batch)

        def loop(state, batch, n):
            def body(_, carry):
                state, _ = carry
                logs, state = model.train_step(state, (*batch, None))
                return state, logs["loss"]

            return jax.lax.fori_loop(0, n, body, (state, jax.numpy.float32(0.0)))

        self.lowered = jax.jit(loop, donate_argnums=0).lower(self.state, self.batch, np.int32(1))
        self.compiled = None
        self.kernels = None

    def compile(self):
        self.compiled = self.lowered.compile()
        self.kernels = count_loop_kernels(self.compiled.as_text())
        self.lowered = None
        return self

    def run(self, n):
        start = time.perf_counter()
        self.state, loss = self.compiled(self.state, self.batch, np.int32(n))
        loss = float(loss)  # waits for the device
        elapsed = time.perf_counter() - start
        if not np.isfinite(loss):
            raise RuntimeError("the benchmark's loss is not finite")
        return elapsed


def count_loop_kernels(hlo_text):
    """`count_kernels` of the body of the entry computation's while loop (one step)."""
    entry = hlo_text[hlo_text.index("ENTRY"):]
    entry = entry[:entry.index("\n}")]
    body_name = entry[entry.index("body=") + len("body="):].split(",")[0].split()[0].strip("%")
    for marker in (f"\n%{body_name} ", f"\n{body_name} ", f"\n%{body_name}.", f"\n{body_name}."):
        if marker in hlo_text:
            body = hlo_text[hlo_text.index(marker) + 1:]
            body = body[:body.index("\n}")]
            return count_kernels("ENTRY " + body + "\n}")
    raise ValueError(f"while body {body_name} not found in the compiled HLO")


def measure_size(size, names, args):
    """Times `names` at `size`; returns the JSON-ready results."""
    sequence, width, layers, heads, batch_size = SIZES[size]
    steps = args.steps or STEPS[size]
    make = factories()
    rng = np.random.default_rng(0)
    x = rng.integers(0, VOCAB, size=(batch_size, sequence)).astype("int32")
    batch = (x, np.roll(x, -1, axis=1))
    first = model_for(size)
    weights = first.get_weights()
    parameters = sum(int(np.prod(v.shape)) for v in first.trainable_variables)
    stamp = time.perf_counter()

    loops = {}
    for name in names:
        model = first if not loops else model_for(size)
        loops[name] = WholeStepLoop(model, make[name][0](), weights, batch)
    traced = time.perf_counter()
    loops[names[0]].compile()
    with concurrent.futures.ThreadPoolExecutor(args.compile_workers) as pool:
        list(pool.map(lambda loop: loop.compile(), [loops[n] for n in names[1:]]))
    compiled = time.perf_counter()
    log(f"{size}: traced in {traced - stamp:.0f} s, compiled in {compiled - traced:.0f} s")

    for loop in loops.values():
        loop.run(args.warmup)
    whole = {name: [] for name in names}
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            whole[name].append(loops[name].run(steps) / steps)
    log(f"{size}: timed {args.rounds} rounds x {steps} steps")
    kernels = {name: loop.kernels for name, loop in loops.items()}
    del loops  # frees the training states before the update timers take theirs

    update = {name: [] for name in names}
    update_kernels = {}
    if args.update_rounds and size in args.update_sizes:
        variables = first.trainable_variables
        grads = [(1e-3 * rng.normal(size=v.shape)).astype("float32") for v in variables]
        timers = {}
        for name in names:
            timers[name] = JaxTimer(make[name][0](), variables, grads, True)
            timers[name].run(1)
            update_kernels[name] = timers[name].kernels
        for r in range(args.update_rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                update[name].append(timers[name].run(args.update_steps) / args.update_steps)
        log(f"{size}: timed the update alone, {args.update_rounds} rounds")

    rows = {}
    for name in names:
        baseline = make[name][1]
        row = {"baseline": baseline, "whole_step_s": whole[name],
               "median_ms": 1e3 * statistics.median(whole[name]), "kernels": kernels[name]}
        if baseline in whole:
            ratios = [t / b for t, b in zip(whole[name], whole[baseline])]
            row.update(paired_ratio=statistics.median(ratios), ratio_min=min(ratios),
                       ratio_max=max(ratios),
                       difference_ms=1e3 * statistics.median(
                           t - b for t, b in zip(whole[name], whole[baseline])))
        if update[name]:
            row.update(update_s=update[name], update_median_ms=1e3 * statistics.median(update[name]),
                       update_kernels=update_kernels[name])
            if baseline in update:
                row["update_difference_ms"] = 1e3 * statistics.median(
                    t - b for t, b in zip(update[name], update[baseline]))
        rows[name] = row
    tokens = batch_size * sequence
    return {"size": size, "shape": {"sequence": sequence, "d_model": width, "layers": layers,
                                    "heads": heads, "batch": batch_size, "vocab": VOCAB},
            "parameters": parameters, "tokens_per_step": tokens,
            "policy": keras.config.dtype_policy().name, "rounds": args.rounds,
            "steps": steps, "machine": machine(), "optimizers": rows}


def print_table(result):
    print(f"\n{result['size']}: {result['parameters']:,} parameters, {result['shape']}, "
          f"{result['policy']}, {result['rounds']} rounds x {result['steps']} steps")
    print(f"{'optimizer':22s} {'ms/step':>9s} {'vs base':>8s} {'range':>13s} {'+ms':>7s}"
          f" {'kernels':>8s} {'update ms':>10s} {'update +ms':>10s}")
    for name, row in result["optimizers"].items():
        ratio = f"{row['paired_ratio']:.3f}" if "paired_ratio" in row else "-"
        spread = (f"{row['ratio_min']:.3f}..{row['ratio_max']:.3f}" if "paired_ratio" in row
                  else "-")
        extra = f"{row['difference_ms']:.2f}" if "difference_ms" in row else "-"
        update = f"{row['update_median_ms']:.3f}" if "update_median_ms" in row else "-"
        update_extra = (f"{row['update_difference_ms']:.3f}" if "update_difference_ms" in row
                        else "-")
        print(f"{name:22s} {row['median_ms']:9.2f} {ratio:>8s} {spread:>13s} {extra:>7s}"
              f" {row['kernels']:>8} {update:>10s} {update_extra:>10s}")
    print(f"({'vs base'}: median of per-round ratios to {', '.join(sorted(set(BASELINES.values())))}"
          "; +ms: median per-round difference)", flush=True)


def log(text):
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="86m,350m", help=f"comma-separated, of {list(SIZES)}")
    parser.add_argument("--only", default=DEFAULT_SET,
                        help="comma-separated optimizers (baselines are added)")
    parser.add_argument("--first-size-extra", default="keras_adam_again,tfbsz_lamb_allgrouped",
                        help="optimizers added at the first size only (controls, variants)")
    parser.add_argument("--steps", type=int, default=0,
                        help=f"steps per timed loop (default per size: {STEPS})")
    parser.add_argument("--rounds", type=int, default=6, help="timed rounds per optimizer")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps after compiling")
    parser.add_argument("--update-rounds", type=int, default=5,
                        help="rounds timing the update alone (0: skip)")
    parser.add_argument("--update-sizes", default="",
                        help="sizes at which the update alone is timed (default: the first)")
    parser.add_argument("--update-steps", type=int, default=20)
    parser.add_argument("--policy", default="mixed_bfloat16")
    parser.add_argument("--compile-workers", type=int, default=4)
    parser.add_argument("--out", default="", help="folder for optimizers_at_scale_<size>.json")
    args = parser.parse_args(argv)

    if keras.backend.backend() != "jax":
        parser.error("needs KERAS_BACKEND=jax")
    keras.config.set_dtype_policy(args.policy)
    known = factories()
    sizes = args.sizes.split(",")
    args.update_sizes = args.update_sizes.split(",") if args.update_sizes else sizes[:1]
    for size in sizes:
        if size not in SIZES:
            parser.error(f"--sizes: unknown size {size!r}; known: {', '.join(SIZES)}")
    log(f"machine: {machine()}")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    for index, size in enumerate(sizes):
        names = [n for n in args.only.split(",") if n]
        if index == 0:
            names += [n for n in args.first_size_extra.split(",") if n and n not in names]
        for name in list(names):
            unknown = name not in known
            if unknown:
                parser.error(f"--only: unknown optimizer {name!r}; known: {', '.join(known)}")
            baseline = known[name][1]
            if baseline not in names:
                names.insert(0, baseline)
        result = measure_size(size, names, args)
        print_table(result)
        if args.out:
            path = os.path.join(args.out, f"optimizers_at_scale_{size}.json")
            with open(path, "w") as f:
                json.dump(result, f, indent=1)
        keras.backend.clear_session()
        jax.clear_caches()


if __name__ == "__main__":
    main()
