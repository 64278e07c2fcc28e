"""Weak-scaling benchmark: training throughput on 1..N devices of one host at a fixed per-device batch.

Trains a decoder-only Transformer language model (about 27M parameters, sequence
length 256, `mixed_bfloat16`) with Keras 3 on the JAX backend, data-parallel
through `keras.distribution.DataParallel`, and prints one line per device
count plus the weak-scaling efficiency

    efficiency(n) = throughput(n) / (n * throughput(1))

where throughput is training examples (sequences) per second. 1.0 is perfect
scaling; the gap is the cost of the gradient all-reduce and of any step
overhead that does not shrink with more devices.

Timing is fair to every device count: each count builds a fresh model and
optimizer, compiles one jitted train step (forward, backward, AdamW update),
runs `--warmup` steps that are not timed (compilation and autotuning), then
`--repeats` timed runs of `--steps` steps, each ended by
`jax.block_until_ready` on the loss and the updated weights; the median run is
reported. The batch is generated once and placed on the devices beforehand, so
host input pipelines are not measured. TensorFlow is never imported.

Usage (the GPU machine: JAX with CUDA, no TensorFlow):

    KERAS_BACKEND=jax python bench/scaling.py --devices 1,2 --json scaling.json

Quick check on a CPU (two fake host devices, a tiny model, a few seconds):

    KERAS_BACKEND=jax python bench/scaling.py --cpu --devices 1,2
"""

import argparse
import json
import os
import statistics
import sys
import time

FULL = dict(vocab=8192, seq_len=256, width=512, layers=6, heads=8, per_device_batch=32,
            warmup=5, steps=20, repeats=5, dtype_policy="mixed_bfloat16")
TINY = dict(vocab=128, seq_len=32, width=32, layers=2, heads=2, per_device_batch=4,
            warmup=2, steps=3, repeats=3, dtype_policy="float32")


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", default="1,2",
                        help="comma-separated device counts to measure (default 1,2); must include 1")
    parser.add_argument("--cpu", action="store_true",
                        help="tiny model on host CPU devices (sets XLA_FLAGS for the device count)")
    for key, value in FULL.items():
        parser.add_argument("--" + key.replace("_", "-"), type=type(value), default=None,
                            help=f"default {value} ({TINY[key]} with --cpu)")
    parser.add_argument("--flash-attention", action="store_true",
                        help="keras.config.enable_flash_attention() (GPU, cuDNN)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    defaults = TINY if args.cpu else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    try:
        args.devices = sorted({int(n) for n in args.devices.split(",")})
    except ValueError:
        parser.error(f"--devices: expected comma-separated integers such as 1,2, got {args.devices!r}")
    if args.devices[0] != 1 or any(n < 1 for n in args.devices):
        parser.error(f"--devices: must include 1 (the efficiency baseline), got {args.devices}")
    for key in ("vocab", "seq_len", "width", "layers", "heads", "per_device_batch", "steps", "repeats"):
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')}: expected an integer >= 1, got {getattr(args, key)}")
    if args.width % args.heads:
        parser.error(f"--width {args.width} must be a multiple of --heads {args.heads}")
    return args


def configure_environment(args):
    """Backend and (with --cpu) host devices: must run before JAX or Keras is imported."""
    backend = os.environ.setdefault("KERAS_BACKEND", "jax")
    if backend != "jax":
        sys.exit(f"scaling.py: error: needs KERAS_BACKEND=jax, got {backend!r}")
    if args.cpu:
        os.environ["JAX_PLATFORMS"] = "cpu"
        flag = f"--xla_force_host_platform_device_count={max(args.devices)}"
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + flag).strip()


def build_language_model(keras, args):
    """A GPT-style decoder: token + position embeddings, pre-norm blocks, float32 logits."""
    from reference_lm import build_mha_language_model

    return build_mha_language_model(keras, args.vocab, args.seq_len, args.width, args.layers, args.heads)


def measure(devices, args, jax, keras, np):
    """Median examples/s (and the per-repeat values) on the first `devices` JAX devices."""
    names = [f"{d.platform}:{d.id}" for d in jax.devices()[:devices]]
    distribution = keras.distribution.DataParallel(devices=names)
    global_batch = args.per_device_batch * devices
    with distribution.scope():
        keras.utils.set_random_seed(0)
        model = build_language_model(keras, args)
        optimizer = keras.optimizers.AdamW(learning_rate=1e-4, weight_decay=0.01)
        optimizer.build(model.trainable_variables)

        def loss_and_state(trainable, non_trainable, x, y):
            logits, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
            loss = keras.ops.mean(
                keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
            )
            return loss, non_trainable

        gradient_fn = jax.value_and_grad(loss_and_state, has_aux=True)

        def train_step(trainable, non_trainable, optimizer_vars, x, y):
            (loss, non_trainable), grads = gradient_fn(trainable, non_trainable, x, y)
            trainable, optimizer_vars = optimizer.stateless_apply(optimizer_vars, grads, trainable)
            return trainable, non_trainable, optimizer_vars, loss

        donate = () if jax.devices()[0].platform == "cpu" else (0, 1, 2)
        step = jax.jit(train_step, donate_argnums=donate)

        rng = np.random.default_rng(0)
        tokens = rng.integers(0, args.vocab, size=(global_batch, args.seq_len + 1), dtype=np.int32)
        layout = distribution.get_data_layout((global_batch, args.seq_len)).backend_layout
        x = jax.device_put(tokens[:, :-1], layout)
        y = jax.device_put(tokens[:, 1:], layout)
        state = (
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            [v.value for v in optimizer.variables],
        )

        def run(steps):
            nonlocal state
            loss = None
            for _ in range(steps):
                *new_state, loss = step(*state, x, y)
                state = tuple(new_state)
            jax.block_until_ready((loss, state[0]))
            return float(loss)

        first_loss = run(max(args.warmup, 1))
        rates = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            last_loss = run(args.steps)
            rates.append(global_batch * args.steps / (time.perf_counter() - started))
    if not np.isfinite(last_loss):
        sys.exit(f"scaling.py: error: loss is {last_loss} on {devices} devices")
    median = statistics.median(rates)
    return {
        "devices": devices,
        "device_names": names,
        "global_batch": global_batch,
        "examples_per_s_median": median,
        "tokens_per_s_median": median * args.seq_len,
        "step_time_ms_median": 1000.0 * global_batch / median,
        "examples_per_s_repeats": rates,
        "loss_first": first_loss,
        "loss_last": last_loss,
        "parameters": model.count_params(),
    }


def main(argv=None):
    args = parse_args(argv)
    configure_environment(args)
    import jax
    import keras
    import numpy as np

    available = jax.devices()
    if max(args.devices) > len(available):
        sys.exit(f"scaling.py: error: --devices asks for {max(args.devices)} devices but JAX sees "
                 f"{len(available)} ({available[0].platform})")
    keras.mixed_precision.set_dtype_policy(args.dtype_policy)
    if args.flash_attention:
        keras.config.enable_flash_attention()
    kind = getattr(available[0], "device_kind", available[0].platform)
    print(f"# {kind}; jax {jax.__version__}, keras {keras.__version__}; policy {args.dtype_policy}; "
          f"seq {args.seq_len}, width {args.width}, layers {args.layers}, vocab {args.vocab}; "
          f"{args.per_device_batch} sequences per device; warm-up {args.warmup}, "
          f"{args.repeats} x {args.steps} timed steps", flush=True)

    results = []
    for devices in args.devices:
        r = measure(devices, args, jax, keras, np)
        results.append(r)
        print(f"devices={devices} global_batch={r['global_batch']} params={r['parameters']:,} "
              f"median {r['examples_per_s_median']:.1f} examples/s "
              f"({r['tokens_per_s_median']:.0f} tokens/s, {r['step_time_ms_median']:.2f} ms/step; "
              f"repeats {', '.join(f'{v:.1f}' for v in r['examples_per_s_repeats'])}) "
              f"loss {r['loss_first']:.3f} -> {r['loss_last']:.3f}", flush=True)

    base = results[0]["examples_per_s_median"]
    efficiency = {}
    for r in results[1:]:
        n = r["devices"]
        efficiency[str(n)] = r["examples_per_s_median"] / (n * base)
        print(f"weak-scaling efficiency {n} vs 1 devices: {efficiency[str(n)]:.3f} "
              f"= {r['examples_per_s_median']:.1f} / ({n} x {base:.1f})")
    if args.json:
        config = {k: getattr(args, k) for k in FULL}
        config.update(devices=args.devices, cpu=args.cpu, flash_attention=args.flash_attention)
        with open(args.json, "w") as f:
            json.dump({"device_kind": kind, "jax": jax.__version__, "keras": keras.__version__,
                       "config": config, "results": results, "efficiency": efficiency}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
