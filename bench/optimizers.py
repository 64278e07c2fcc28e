"""Optimizer step time: tfbsz LARS and LAMB against Keras's SGD+momentum, Adam and Lamb.

What is timed (`--measure optimizer`, the default): one optimizer update
(`apply` of a fixed set of gradients to the model's variables), compiled the
way each backend compiles a training step: a `tf.function` on TensorFlow (no
XLA by default, like Keras's `fit` on a CPU),
on JAX a `jax.jit` of a loop of `stateless_apply` calls with donated buffers
(device time; one Python call per round). The JAX timers also count the
kernels of the compiled update or training step. Every optimizer
updates the same model's variables with the same gradients. Compilation and
`--warmup` steps are excluded; then `--repeats` rounds time `--steps` updates
per optimizer, the optimizer order rotating every round, and the median
per-update time is reported, with its ratio to Keras's Adam: the median over
rounds of each round's own ratio (paired, so a machine that slows down between
rounds, as shared CPUs do, does not bias it).
`--measure train_step` times Keras's whole compiled training step instead
(`train_on_batch` on a fixed batch, one model copy per optimizer, same initial
weights), with the same warm-up, rounds and rotation.

Modes:
* `cpu` (default): TensorFlow or JAX backend, a small decoder-only Transformer
  (d=128, 2 blocks, about 0.65M parameters) or `--model mlp`.
  `--only` also accepts variants of tfbsz's optimizers: `_unfused` (the
  TensorFlow XLA function switched off), `_separate` / `_grouped` (norms
  reduced one by one, or stacked by shape, whatever the device),
  `_stacksum` (separate reductions feeding one stack), `_allgrouped` (stacked by
  shape whatever the size: tfbsz before `trust_ratio.MAX_GROUPED_ELEMENTS`),
  e.g. `tfbsz_lamb_grouped`.
* `gpu`: JAX backend, a decoder-only Transformer of about 25M parameters
  (d=512, 7 blocks, vocabulary 4096, sequence 256) under `mixed_bfloat16`.
  The script does not import TensorFlow when `KERAS_BACKEND=jax`.

Examples:
    KERAS_BACKEND=tensorflow python bench/optimizers.py --mode cpu
    KERAS_BACKEND=jax python bench/optimizers.py --mode gpu --steps 50 --repeats 7
    KERAS_BACKEND=jax python bench/optimizers.py --mode gpu --measure train_step --steps 20

Prints one line per optimizer (median ms/update, ratio to Adam, spread) and
the machine; `--json PATH` also writes the numbers.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tfbsz.optimizers import LAMB, LARS  # noqa: E402

MODELS = {
    # name: (vocab, sequence, width, blocks, heads)
    "cpu": (1000, 64, 128, 2, 4),
    "gpu": (4096, 256, 512, 7, 8),
}


def optimizers():
    """name -> factory; hyper-parameters are typical, they do not change the cost."""
    return {
        "keras_momentum": lambda: keras.optimizers.SGD(0.01, momentum=0.9),
        "keras_adam": lambda: keras.optimizers.Adam(1e-3),
        "keras_lamb": lambda: keras.optimizers.Lamb(1e-3),
        "tfbsz_lars": lambda: _lars(),
        "tfbsz_lamb": lambda: _lamb(),
    }


def _unfused(optimizer):
    """tfbsz's optimizer with its TensorFlow XLA fusion off (to measure what it buys)."""
    from tfbsz.optimizers.fused_update import FusedUpdate

    optimizer._kernels = FusedUpdate(compile=False)
    return optimizer


def _separate_norms(tensors):
    """One reduction per norm (tfbsz's choice on a CPU)."""
    from tfbsz.optimizers.trust_ratio import l2_norms

    return l2_norms(tensors, grouped=False)


def _grouped_norms(tensors):
    """Same-shape tensors stacked, one reduction per shape (tfbsz's choice on a GPU/TPU)."""
    from tfbsz.optimizers.trust_ratio import l2_norms

    return l2_norms(tensors, grouped=True)


def _all_grouped_norms(tensors):
    """Same-shape tensors stacked whatever their size (tfbsz before the size limit)."""
    from tfbsz.optimizers.trust_ratio import l2_norms

    return l2_norms(tensors, grouped=True, max_grouped_elements=float("inf"))


def _stacked_sums(tensors):
    """One reduction per norm, all feeding one `stack` (left to XLA's horizontal fusion)."""
    from keras import ops

    sums = ops.stack([ops.sum(ops.square(ops.cast(t, "float32"))) for t in tensors])
    return [ops.sqrt(sums[i]) for i in range(len(tensors))]


def _with_norms(optimizer, norms_of):
    """tfbsz's optimizer taking its norms another way than the default `l2_norms`."""
    optimizer._norms_of = norms_of
    return optimizer


def _lars():
    return LARS(1.0, momentum=0.9, weight_decay=1e-4)


def _lamb():
    return LAMB(1e-3, weight_decay=0.01)


EXTRA = {
    "tfbsz_lars_unfused": lambda: _unfused(_lars()),
    "tfbsz_lamb_unfused": lambda: _unfused(_lamb()),
    "tfbsz_lars_separate": lambda: _with_norms(_lars(), _separate_norms),
    "tfbsz_lamb_separate": lambda: _with_norms(_lamb(), _separate_norms),
    "tfbsz_lars_grouped": lambda: _with_norms(_lars(), _grouped_norms),
    "tfbsz_lamb_grouped": lambda: _with_norms(_lamb(), _grouped_norms),
    "tfbsz_lars_stacksum": lambda: _with_norms(_lars(), _stacked_sums),
    "tfbsz_lars_allgrouped": lambda: _with_norms(_lars(), _all_grouped_norms),
    "tfbsz_lamb_allgrouped": lambda: _with_norms(_lamb(), _all_grouped_norms),
    "tfbsz_lamb_stacksum": lambda: _with_norms(_lamb(), _stacked_sums),
}


def transformer(vocab, sequence, width, blocks, heads):
    """A decoder-only Transformer LM from plain Keras layers (pre-LayerNorm)."""
    tokens = keras.Input((sequence,), dtype="int32")
    x = keras.layers.Embedding(vocab, width, name="embed")(tokens)
    for i in range(blocks):
        h = keras.layers.LayerNormalization(name=f"block{i}_ln1")(x)
        h = keras.layers.MultiHeadAttention(heads, width // heads, name=f"block{i}_attn")(
            h, h, use_causal_mask=True)
        x = x + h
        h = keras.layers.LayerNormalization(name=f"block{i}_ln2")(x)
        h = keras.layers.Dense(4 * width, activation="gelu", name=f"block{i}_up")(h)
        x = x + keras.layers.Dense(width, name=f"block{i}_down")(h)
    x = keras.layers.LayerNormalization(name="final_ln")(x)
    logits = keras.layers.Dense(vocab, name="logits", dtype="float32")(x)
    return keras.Model(tokens, logits)


def mlp():
    inputs = keras.Input((784,))
    x = keras.layers.Dense(512, activation="relu", name="hidden1")(inputs)
    x = keras.layers.Dense(512, activation="relu", name="hidden2")(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="logits")(x))


# --- one timer per backend ------------------------------------------------------------
class TensorFlowTimer:
    def __init__(self, optimizer, variables, grads, jit_compile):
        import tensorflow as tf

        self.optimizer = optimizer
        optimizer.build(variables)
        grads = [tf.constant(g) for g in grads]

        @tf.function(jit_compile=jit_compile)
        def steps(n):
            for _ in tf.range(n):
                optimizer.apply(grads, variables)
            return optimizer.iterations

        self._steps = steps

    def run(self, n):
        import tensorflow as tf

        start = time.perf_counter()
        self._steps(tf.constant(n)).numpy()  # .numpy() waits for the device
        return time.perf_counter() - start


class JaxTimer:
    """`n` updates inside one jitted loop: the time is the device's, not Python's
    dispatch of ~350 arrays per call (which would hide the update on a GPU).
    `kernels` counts those of one update compiled alone."""

    def __init__(self, optimizer, variables, grads, jit_compile):
        import jax

        optimizer.build(variables)
        self.params = [jax.numpy.array(v.value) for v in variables]
        self.state = [jax.numpy.array(v.value) for v in optimizer.variables]
        self.grads = [jax.numpy.asarray(g) for g in grads]

        def step(state, params, grads):
            params, state = optimizer.stateless_apply(state, grads, params)
            return state, params

        def steps(state, params, grads, n):
            # The gradients are scaled by a factor that changes every pass (by 1e-7), so
            # XLA cannot hoist the gradient-only work (g * (1 - beta), g^2) out of the loop.
            def body(_, carry):
                state, params, scale = carry
                state, params = step(state, params, [g * scale for g in grads])
                return state, params, scale * (1.0 - 1e-7)

            start = (state, params, jax.numpy.float32(1.0))
            return jax.lax.fori_loop(0, n, body, start)[:2]

        self._steps = jax.jit(steps, donate_argnums=(0, 1))
        hlo = jax.jit(step).lower(self.state, self.params, self.grads).compile().as_text()
        self.kernels = count_kernels(hlo)

    def run(self, n):
        start = time.perf_counter()
        self.state, self.params = self._steps(self.state, self.params, self.grads, n)
        self.params[0].block_until_ready()
        return time.perf_counter() - start


def count_kernels(hlo_text):
    """Fusions and library calls in the entry computation of compiled HLO: about
    the number of kernels one update launches on a GPU."""
    entry = hlo_text[hlo_text.index("ENTRY"):]
    entry = entry[:entry.index("\n}")]
    return sum(1 for line in entry.splitlines()
               if " fusion(" in line or " custom-call(" in line or " reduce(" in line)


class TrainStepTimer:
    """Times Keras's compiled train step (`train_on_batch`) of a fresh copy of the model."""

    def __init__(self, optimizer, build_model, weights, batch):
        self.model = build_model()
        self.model.set_weights(weights)
        self.model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        self.x, self.y = batch

    def count_kernels(self):
        """JAX: kernels in the compiled whole train step (private Keras API; bench only)."""
        import jax

        self.model.train_on_batch(self.x, self.y)
        self.model.jax_state_sync()
        state = self.model._get_jax_state(
            trainable_variables=True, non_trainable_variables=True,
            optimizer_variables=True, metrics_variables=True, purge_model_variables=False)
        lowered = jax.jit(self.model.train_step).lower(state, (self.x, self.y, None))
        self.kernels = count_kernels(lowered.compile().as_text())

    def run(self, n):
        start = time.perf_counter()
        for _ in range(n):
            loss = self.model.train_on_batch(self.x, self.y)  # returns a number: synchronises
        if not np.isfinite(loss):
            raise RuntimeError("the benchmark's loss is not finite")
        return time.perf_counter() - start


def machine():
    backend = keras.backend.backend()
    text = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
    text += f"Python {platform.python_version()}, Keras {keras.__version__} ({backend})"
    if backend == "jax":
        import jax

        text += f", jax {jax.__version__} on {jax.devices()[0].device_kind}"
    else:
        import tensorflow as tf

        text += f", TensorFlow {tf.__version__}"
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--model", choices=["transformer", "mlp"], default="transformer")
    parser.add_argument("--steps", type=int, default=20, help="updates per timed round")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds per optimizer")
    parser.add_argument("--warmup", type=int, default=5, help="untimed updates after compiling")
    parser.add_argument("--jit", action="store_true", help="TensorFlow: XLA-compile the step")
    parser.add_argument("--measure", choices=["optimizer", "train_step"], default="optimizer",
                        help="time optimizer updates alone, or whole compiled train steps")
    parser.add_argument("--batch-size", type=int, default=0,
                        help="train_step: sequences per batch (default 8 cpu, 32 gpu)")
    parser.add_argument("--only", default="", help="comma-separated subset of optimizers")
    parser.add_argument("--json", default="", help="write the results to this file")
    args = parser.parse_args(argv)

    backend = keras.backend.backend()
    if args.mode == "gpu":
        if backend != "jax":
            parser.error("--mode gpu needs KERAS_BACKEND=jax")
        keras.config.set_dtype_policy("mixed_bfloat16")
    def build_model():
        return transformer(*MODELS[args.mode]) if args.model == "transformer" else mlp()

    model = build_model()
    variables = model.trainable_variables
    count = sum(int(np.prod(v.shape)) for v in variables)
    rng = np.random.default_rng(0)
    grads = [(1e-3 * rng.normal(size=v.shape)).astype("float32") for v in variables]

    chosen = optimizers()
    if args.only:
        everything = {**chosen, **EXTRA}
        chosen = {k: everything[k] for k in args.only.split(",")}
    timer_cls = JaxTimer if backend == "jax" else TensorFlowTimer
    if args.measure == "train_step":
        batch_size = args.batch_size or (8 if args.mode == "cpu" else 32)
        if args.model == "transformer":
            vocab, sequence = MODELS[args.mode][:2]
            x = rng.integers(0, vocab, size=(batch_size, sequence)).astype("int32")
            batch = (x, np.roll(x, -1, axis=1))
        else:
            batch = (rng.normal(size=(batch_size, 784)).astype("float32"),
                     rng.integers(0, 10, size=batch_size).astype("int32"))
        weights = model.get_weights()
    timers = {}
    for name, make in chosen.items():
        if args.measure == "train_step":
            timers[name] = TrainStepTimer(make(), build_model, weights, batch)
            if backend == "jax":
                timers[name].count_kernels()
        else:
            timers[name] = timer_cls(make(), variables, grads, args.jit)
        timers[name].run(1)  # compile
        timers[name].run(args.warmup)

    per_update = {name: [] for name in timers}
    names = list(timers)
    for r in range(args.repeats):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            per_update[name].append(timers[name].run(args.steps) / args.steps)

    medians = {name: statistics.median(t) for name, t in per_update.items()}
    # Ratio to Adam: the median over rounds of the round's own ratio (paired: both
    # timed within the same round, so a machine slowing down between rounds cancels).
    ratios = {}
    if "keras_adam" in per_update:
        adam = per_update["keras_adam"]
        ratios = {name: statistics.median(t / a for t, a in zip(times, adam))
                  for name, times in per_update.items()}
    print(f"machine: {machine()}")
    print(f"model: {args.model} ({args.mode}), {len(variables)} variables, {count:,} parameters, "
          f"policy {keras.config.dtype_policy().name}, jit={args.jit or backend == 'jax'}")
    print(f"measured: {args.measure}" + (f", batch {batch_size}" if args.measure == "train_step"
                                          else "") + f", {args.repeats} rounds x {args.steps}")
    print(f"{'optimizer':20s} {'ms/update':>10s} {'vs adam':>8s} {'min..max ms':>16s}"
          f" {'kernels':>8s}")
    for name, median in medians.items():
        ratio = f"{ratios[name]:.3f}" if ratios else "-"
        spread = f"{1e3 * min(per_update[name]):.2f}..{1e3 * max(per_update[name]):.2f}"
        kernels = getattr(timers[name], "kernels", "-")
        print(f"{name:20s} {1e3 * median:10.3f} {ratio:>8s} {spread:>16s} {kernels:>8}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "mode": args.mode, "model": args.model,
                       "measure": args.measure,
                       "parameters": count, "median_s": medians, "all_s": per_update,
                       "paired_ratio_to_adam": ratios,
                       "kernels": {n: getattr(t, "kernels", None) for n, t in timers.items()}},
                      f, indent=1)


if __name__ == "__main__":
    main()
