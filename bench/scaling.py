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

Overlap and bucketing of the gradient all-reduce are XLA's to decide; `--xla-variants` measures
named XLA flag sets (`XLA_VARIANTS`: the latency-hiding scheduler, which lets an asynchronous
all-reduce run under the rest of the backward pass, and smaller all-reduce combine thresholds,
i.e. buckets that can start before the whole backward pass ends), each in a fresh process since
XLA reads its flags once:

    KERAS_BACKEND=jax python bench/scaling.py --devices 1,2 --xla-variants default,overlap,overlap_8mb,overlap_2mb --json scaling.json

Each result also lists the step's all-reduces as XLA compiled them (count, dtype, bytes, and
whether they are asynchronous start/done pairs), and `--profile` adds a profiler summary of the
largest device count's step (bench/profile_summary.py: collective time next to compute time).
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

FULL = dict(vocab=8192, seq_len=256, width=512, layers=6, heads=8, per_device_batch=32,
            warmup=5, steps=20, repeats=5, dtype_policy="mixed_bfloat16")
TINY = dict(vocab=128, seq_len=32, width=32, layers=2, heads=2, per_device_batch=4,
            warmup=2, steps=3, repeats=3, dtype_policy="float32")
# XLA flag sets for --xla-variants, added to any XLA_FLAGS already set.
LATENCY_HIDING = "--xla_gpu_enable_latency_hiding_scheduler=true"
XLA_VARIANTS = {
    "default": "",
    "overlap": LATENCY_HIDING,
    "overlap_8mb": LATENCY_HIDING + " --xla_gpu_all_reduce_combine_threshold_bytes=8388608",
    "overlap_2mb": LATENCY_HIDING + " --xla_gpu_all_reduce_combine_threshold_bytes=2097152",
}


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
                        help="call keras.config.enable_flash_attention() (no change in Keras 3.15: it restores the "
                             "default, under which Keras already picks cuDNN flash attention where it can)")
    parser.add_argument("--xla-variants", default="default",
                        help="comma-separated XLA flag sets to compare, each in its own process: "
                             + ", ".join(XLA_VARIANTS) + " (default: default)")
    parser.add_argument("--profile", action="store_true",
                        help="also profile 3 steps on the largest device count (summary in the JSON)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    args.xla_variants = [v.strip() for v in args.xla_variants.split(",") if v.strip()]
    for variant in args.xla_variants:
        if variant not in XLA_VARIANTS:
            parser.error(f"--xla-variants: unknown variant {variant!r}; known: {', '.join(XLA_VARIANTS)}")
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
        step = jax.jit(train_step, donate_argnums=donate).lower(*state, x, y).compile()
        collectives = all_reduce_summary(step.as_text() or "")

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
        profile = None
        if args.profile and devices == max(args.devices):
            import profile_summary

            profile = profile_summary.profile_steps(run, 3, os.path.join(tempfile.gettempdir(), "tfbsz_scaling_profile"))
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
        "all_reduces": collectives,
        **({"profile": profile} if profile else {}),
    }


_BYTES = {"f64": 8, "f32": 4, "s32": 4, "u32": 4, "bf16": 2, "f16": 2, "s8": 1, "u8": 1, "pred": 1}


def all_reduce_summary(hlo_text):
    """The compiled step's all-reduces: how many, of which dtypes, how many bytes, asynchronous or not."""
    ops, dtypes, total = 0, {}, 0
    asynchronous = False
    for line in hlo_text.splitlines():
        match = re.search(r"=\s*(.*?)\s(all-reduce(?:-start)?)\(", line)
        if not match:
            continue
        ops += 1
        asynchronous = asynchronous or match.group(2) == "all-reduce-start"
        for dtype, dims in re.findall(r"\b([a-z]+\d*)\[([\d,]*)\]", match.group(1)):
            if dtype not in _BYTES:
                continue
            count = 1
            for d in filter(None, dims.split(",")):
                count *= int(d)
            dtypes[dtype] = dtypes.get(dtype, 0) + count * _BYTES[dtype]
            total += count * _BYTES[dtype]
    return {"ops": ops, "bytes": total, "bytes_by_dtype": dtypes, "asynchronous": asynchronous}


def run_variants(args, argv):
    """Each --xla-variants entry in a child process with its XLA flags; merged results."""
    argv = list(sys.argv[1:] if argv is None else argv)
    passthrough, skip = [], False
    for item in argv:  # drop our own --xla-variants and --json, keep the rest
        if skip:
            skip = False
            continue
        if item in ("--xla-variants", "--json"):
            skip = True
            continue
        if item.startswith(("--xla-variants=", "--json=")):
            continue
        passthrough.append(item)
    merged = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in args.xla_variants:
            out = os.path.join(tmp, variant + ".json")
            env = dict(os.environ)
            env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + XLA_VARIANTS[variant]).strip()
            print(f"## xla variant {variant}: XLA_FLAGS={env['XLA_FLAGS']!r}", flush=True)
            proc = subprocess.run([sys.executable, os.path.abspath(__file__), *passthrough,
                                   "--xla-variants", "default", "--json", out], env=env)
            if proc.returncode != 0 or not os.path.exists(out):
                merged[variant] = {"error": f"exit status {proc.returncode}", "xla_flags": env["XLA_FLAGS"]}
                continue
            with open(out) as f:
                merged[variant] = json.load(f)
            merged[variant]["xla_flags"] = env["XLA_FLAGS"]
    print("## weak-scaling efficiency by XLA variant")
    for variant, result in merged.items():
        eff = ", ".join(f"{n} devices {e:.3f}" for n, e in result.get("efficiency", {}).items())
        ms = ", ".join(f"{r['devices']}: {r['step_time_ms_median']:.2f} ms" for r in result.get("results", []))
        print(f"{variant:<14s} {eff or result.get('error', '')}  (step {ms})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"xla_variants": merged}, f, indent=2)
    return 0 if all("error" not in r for r in merged.values()) else 1


def main(argv=None):
    args = parse_args(argv)
    if args.xla_variants != ["default"]:
        return run_variants(args, argv)
    configure_environment(args)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
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
              f"loss {r['loss_first']:.3f} -> {r['loss_last']:.3f}; all-reduces {r['all_reduces']}", flush=True)
        if "profile" in r:
            import profile_summary

            print(profile_summary.format_summary(f"{devices} devices", r["profile"], r["step_time_ms_median"]))

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
                       "xla_flags": os.environ.get("XLA_FLAGS", ""), "config": config, "results": results,
                       "efficiency": efficiency}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
