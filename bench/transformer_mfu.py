"""Transformer training speed and MFU: tfbsz's Transformer options against a plain Keras model.

Measures, side by side in one process (JAX backend, `mixed_bfloat16`, Adam, one device), the
training step of:

* tfbsz's `transformer` with `attention: auto`, `flash` and `xla`, with its query/key/value
  projection `qkv: fused` (default), `split` and `separate`, and with `remat: true`;
* `tfbsz_auto_broadcast_positions`: tfbsz `auto` with the position embedding as it was before
  the layout fix (the table's first rows broadcast over the batch, so its gradient is a sum over
  the batch, for which XLA's GPU compiler laid out the residual stream `[seq, d_model, batch]`;
  `tfbsz.models.transformer.PositionEmbedding`), rebuilt here for the before/after comparison, and
  `tfbsz_auto_broadcast_positions_pinned`, the same with the embedding's output pinned to the
  row-major layout (`jax.experimental.layout.with_layout_constraint`), the other possible remedy;
* the plain Keras `MultiHeadAttention` language model of the same shape (bench/reference_lm.py)
  with Keras's flash attention on (`keras.config.enable_flash_attention()`) and off
  (`keras.config.disable_flash_attention()`),

at two shapes: issue 15's 86M model (d_model 768, 12 layers, 12 heads, sequence 1024, batch 32,
byte vocabulary) and a 135M model with a 32K vocabulary (`transformer_config_for_params(135e6)`:
d_model 768, 15 layers). Each variant's step (forward, backward, Adam update) is one jitted
function on donated state, compiled ahead (compile time, XLA's memory and FLOP counts recorded),
warmed up, then timed in `--rounds` rounds of `--steps` steps with the order of the variants
rotated every round; each timing ends with `block_until_ready`. Per variant it also counts the
transposes and copies in the compiled program and the reductions XLA's GPU compiler relayouts its
input for (`bench/hlo_census.py`). Reported per variant: median
ms/step (and the spread), tokens/s, MFU, and the median of per-round ratios to the Keras model
with flash attention. All tfbsz variants start from the same weights and see the same batch, as
do the two Keras ones, so their first losses must agree (flash vs XLA within bf16 rounding).

MFU = model FLOPs per step / (step time x peak). Model FLOPs per token are
`6 x non-embedding params + 12 x layers x d_model x seq_len` (`tfbsz.models.efficiency`, the
definition of issue 15); the peak is `--peak-tflops`, by default the table in
`tfbsz.models.efficiency` for the device kind (790 TFLOP/s on an H200). A bf16 8192^3 matmul is
also timed, to show what this device reaches.

Then, per shape, one JAX profiler trace of a few steps of tfbsz (`auto`) and of the Keras model with
flash attention, summarised by kernel kind and by kernel (bench/profile_summary.py), and, at the
first shape, tfbsz `auto` through Keras `model.fit`: with no per-batch callback (Keras dispatches
steps asynchronously), with tfbsz's `StepsToTarget` (async-safe: Keras still dispatches steps
without waiting for the device) and with `StepsToTarget` next to a callback with a per-batch hook
(Keras then turns each step's logs into Python numbers, waiting for the device every step).

Writes into `--out DIR`: `results.json` (everything, raw per-round times included), `summary.txt`
(the tables), `<variant>_<shape>.trace.json.gz` (Perfetto / TensorBoard trace of the profiled
steps at the first shape) and `tfbsz_auto_<shape>.hlo.txt.gz` (the optimised HLO of the step).
results.json is rewritten after each phase, so an interrupted run keeps what it measured.

The variants are compiled most-wanted first (`PLAN`: the 86M comparisons of issue 15, then the
135M ones, remat, ...); none is started after `--budget-s` seconds, and `model.fit` is skipped after
`--fit-after-s`, so the run ends in about 5-6 minutes however slow compilation is (the skipped
variants are listed; `--shapes` and `--variants` pick a subset for a second run).

GPU (one H200):

    KERAS_BACKEND=jax python3 bench/transformer_mfu.py --out /tmp/mfu

The layout fix's confirmation (about 3 minutes: tfbsz `auto`, the Keras model, the pre-fix position
embedding and the separate QKV projection at 86M, the first two at 135M, and the `model.fit` rows):

    KERAS_BACKEND=jax python3 bench/transformer_mfu.py --out /tmp/mfu2 --variants \\
        tfbsz_auto,keras_mha_flash,tfbsz_auto_broadcast_positions,tfbsz_auto_broadcast_positions_pinned,tfbsz_flash_qkv_separate

CPU check with tiny shapes (one to three minutes on 2 cores):

    KERAS_BACKEND=jax python3 bench/transformer_mfu.py --tiny --out /tmp/mfu_tiny
"""

import argparse
import contextlib
import gzip
import hashlib
import json
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # tfbsz from this checkout
sys.path.insert(0, HERE)

SHAPES = {
    "86m": dict(vocab=256, seq_len=1024, d_model=768, num_layers=12, num_heads=12, mlp_dim=3072, batch=32),
    "135m": dict(vocab=32768, seq_len=1024, d_model=768, num_layers=15, num_heads=12, mlp_dim=3072, batch=32),
}
TINY_SHAPES = {
    "86m": dict(vocab=64, seq_len=64, d_model=64, num_layers=2, num_heads=4, mlp_dim=256, batch=4),
    "135m": dict(vocab=512, seq_len=64, d_model=64, num_layers=3, num_heads=4, mlp_dim=256, batch=4),
}
# name: (family, options); tfbsz options are `model:` options, Keras ones build arguments.
VARIANTS = {
    "tfbsz_auto": ("tfbsz", {"attention": "auto"}),
    "tfbsz_flash": ("tfbsz", {"attention": "flash"}),
    "tfbsz_xla": ("tfbsz", {"attention": "xla"}),
    "tfbsz_flash_qkv_split": ("tfbsz", {"attention": "flash", "qkv": "split"}),
    "tfbsz_flash_qkv_separate": ("tfbsz", {"attention": "flash", "qkv": "separate"}),
    "tfbsz_flash_remat": ("tfbsz", {"attention": "flash", "remat": True}),
    "tfbsz_auto_broadcast_positions": ("tfbsz", {"attention": "auto"}),
    "tfbsz_auto_broadcast_positions_pinned": ("tfbsz", {"attention": "auto"}),
    "keras_mha_flash": ("keras", {"flash_attention": True}),
    "keras_mha_xla": ("keras", {"flash_attention": False}),
}
# Compiled in this order, most wanted first; none is started past --budget-s (the rest are skipped).
PLAN = [
    ("86m", "tfbsz_auto"), ("86m", "keras_mha_flash"), ("86m", "tfbsz_auto_broadcast_positions"),
    ("86m", "tfbsz_auto_broadcast_positions_pinned"),
    ("86m", "tfbsz_xla"), ("86m", "keras_mha_xla"),
    ("86m", "tfbsz_flash"), ("86m", "tfbsz_flash_qkv_split"), ("86m", "tfbsz_flash_qkv_separate"),
    ("135m", "tfbsz_auto"), ("135m", "keras_mha_flash"), ("86m", "tfbsz_flash_remat"),
    ("135m", "tfbsz_xla"), ("135m", "keras_mha_xla"), ("135m", "tfbsz_flash_qkv_split"),
]
BASELINE = "keras_mha_flash"
PROFILED = ("tfbsz_auto", "keras_mha_flash")
BEFORE_LAYOUT_FIX = {"tfbsz_auto_broadcast_positions": False, "tfbsz_auto_broadcast_positions_pinned": True}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder for results.json, summary.txt, traces")
    parser.add_argument("--tiny", action="store_true", help="tiny shapes (a CPU check of the script)")
    parser.add_argument("--shapes", default="86m,135m", help="comma-separated, of: " + ", ".join(SHAPES))
    parser.add_argument("--variants", default=None,
                        help="comma-separated subset of: " + ", ".join(VARIANTS) + " (default: the whole PLAN)")
    parser.add_argument("--steps", type=int, default=None, help="steps per timed round (default 8; 3 with --tiny)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds (default 5; 3 with --tiny)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps after compiling (default 2)")
    parser.add_argument("--profile-steps", type=int, default=3, help="steps in each profile trace; 0: no profile")
    parser.add_argument("--no-fit", action="store_true", help="skip the model.fit measurement")
    parser.add_argument("--budget-s", type=float, default=200.0,
                        help="start no compilation after this many seconds (default 200)")
    parser.add_argument("--fit-after-s", type=float, default=300.0,
                        help="skip the model.fit measurement if this many seconds have passed (default 300)")
    parser.add_argument("--peak-tflops", type=float, default=None,
                        help="device peak for MFU (default: tfbsz.models.efficiency's table for the device)")
    args = parser.parse_args(argv)
    table = TINY_SHAPES if args.tiny else SHAPES
    args.shapes = [s.strip() for s in args.shapes.split(",") if s.strip()]
    for shape in args.shapes:
        if shape not in table:
            parser.error(f"--shapes: unknown shape {shape!r}; known: {', '.join(table)}")
    if args.variants:
        args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
        for variant in args.variants:
            if variant not in VARIANTS:
                parser.error(f"--variants: unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
    args.steps = args.steps or (3 if args.tiny else 8)
    args.rounds = args.rounds or (3 if args.tiny else 5)
    for key in ("steps", "rounds"):
        if getattr(args, key) < 1:
            parser.error(f"--{key}: expected an integer >= 1, got {getattr(args, key)}")
    return args


class Run:
    """The run's clock, log (stdout and summary.txt) and results.json."""

    def __init__(self, out):
        os.makedirs(out, exist_ok=True)
        self.out = out
        self.started = time.monotonic()
        self.results = {"shapes": {}}
        self.summary = open(os.path.join(out, "summary.txt"), "w")

    def elapsed(self):
        return time.monotonic() - self.started

    def say(self, text=""):
        line = f"[{self.elapsed():6.1f}s] {text}" if text else ""
        print(line, flush=True)
        self.summary.write(line + "\n")
        self.summary.flush()

    def save(self):
        path = os.path.join(self.out, "results.json")
        with open(path + ".tmp", "w") as f:
            json.dump(self.results, f, indent=1, default=str)
        os.replace(path + ".tmp", path)


# --------------------------------------------------------------------------- models


def build_model(keras, family, options, shape):
    from tfbsz import models
    from reference_lm import build_mha_language_model

    if family == "tfbsz":
        import types

        data = types.SimpleNamespace(name="random_tokens", task="language_model", num_classes=shape["vocab"],
                                     input_shape=(shape["seq_len"],))
        cfg = {"name": "transformer", "num_layers": shape["num_layers"], "d_model": shape["d_model"],
               "num_heads": shape["num_heads"], "mlp_dim": shape["mlp_dim"], **options}
        return models.build(cfg, data)
    return build_mha_language_model(
        keras, shape["vocab"], shape["seq_len"], shape["d_model"], shape["num_layers"], shape["num_heads"],
        mlp_dim=shape["mlp_dim"], float32_logits_dense=False, flash_attention=options["flash_attention"],
    )


@contextlib.contextmanager
def positions_before_layout_fix(pin_layout=False):
    """`PositionEmbedding.call` as it was before the layout fix, while building and compiling a variant;
    with `pin_layout`, its output (and so its gradient) pinned to the row-major layout
    (`jax.experimental.layout.with_layout_constraint`), the other remedy for the relayout."""
    from keras import ops
    from tfbsz.models import transformer

    def broadcast_positions(self, inputs):
        _, length, dim = ops.shape(inputs)
        positions = ops.slice(ops.convert_to_tensor(self.position_embeddings), (0, 0), (length, dim))
        summed = ops.cast(ops.cast(inputs, positions.dtype) + positions, self.compute_dtype)
        if pin_layout:
            from jax.experimental.layout import Layout, with_layout_constraint

            summed = with_layout_constraint(summed, Layout(tuple(range(len(summed.shape)))))
        return summed

    fixed = transformer.PositionEmbedding.call
    transformer.PositionEmbedding.call = broadcast_positions
    try:
        yield
    finally:
        transformer.PositionEmbedding.call = fixed


def _remat_free(path):
    head, _, rest = path.partition("/")
    return rest if head.startswith("block_") and rest.startswith(head + "_") else path


def copy_weights(np, source, target):
    """`source`'s weights into `target` (same family): paths matched across remat blocks, and the
    separate query/key/value kernels taken from a fused `qkv` kernel."""
    from tfbsz.models.attention import split_fused_qkv

    values = {_remat_free(w.path): np.asarray(w.value) for w in source.weights}
    for w in target.weights:
        path = _remat_free(w.path)
        if path in values:
            w.assign(values[path].copy())
            continue
        prefix, _, leaf = path.rpartition("/")
        attention_path, _, role = prefix.rpartition("/")
        fused = values.get(f"{attention_path}/qkv/{leaf}")
        if fused is None or role not in ("query", "key", "value"):
            raise KeyError(f"no source weight for {w.path}")
        parts = split_fused_qkv(fused) if leaf == "kernel" else split_fused_qkv(fused[None])
        part = parts[("query", "key", "value").index(role)]
        w.assign((part if leaf == "kernel" else part[0]).copy())


# --------------------------------------------------------------------------- steps


class Variant:
    """One model with its jitted train step, compiled, and its device state."""

    def __init__(self, name, shape_name, model, jax, keras):
        self.name, self.shape_name, self.model = name, shape_name, model
        self.jax = jax
        optimizer = keras.optimizers.Adam(learning_rate=3e-4)
        optimizer.build(model.trainable_variables)
        loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

        def loss_and_state(trainable, non_trainable, x, y):
            logits, non_trainable = model.stateless_call(trainable, non_trainable, x, training=True)
            return loss_fn(y, logits), non_trainable

        gradient = jax.value_and_grad(loss_and_state, has_aux=True)

        def step(trainable, non_trainable, optimizer_vars, x, y):
            (loss, non_trainable), grads = gradient(trainable, non_trainable, x, y)
            trainable, optimizer_vars = optimizer.stateless_apply(optimizer_vars, grads, trainable)
            return trainable, non_trainable, optimizer_vars, loss

        self.jitted = jax.jit(step, donate_argnums=(0, 1, 2))
        def copy(variables):  # the step donates its state: keep the model's own arrays readable
            return [jax.numpy.array(v.value, copy=True) for v in variables]

        self.state = (copy(model.trainable_variables), copy(model.non_trainable_variables),
                      copy(optimizer.variables))
        self.compiled = None
        self.losses = []

    def compile(self, x, y):
        started = time.perf_counter()
        import hlo_census

        lowered = self.jitted.lower(*self.state, x, y)
        traced = time.perf_counter()
        hazards = hlo_census.layout_hazards(lowered.as_text(dialect="hlo"))
        self.compiled = lowered.compile()
        done = time.perf_counter()
        info = {"trace_s": traced - started, "compile_s": done - traced}
        try:
            memory = self.compiled.memory_analysis()
            info["temp_bytes"] = int(memory.temp_size_in_bytes)
            info["argument_bytes"] = int(memory.argument_size_in_bytes)
        except Exception as e:  # not every backend reports it
            info["memory_analysis"] = f"unavailable: {e}"
        try:
            cost = self.compiled.cost_analysis()
            cost = cost[0] if isinstance(cost, (list, tuple)) else cost
            info["xla_flops"] = float(cost.get("flops", float("nan")))
        except Exception as e:
            info["cost_analysis"] = f"unavailable: {e}"
        text = self.compiled.as_text() or ""
        info["hlo_sha256"] = hashlib.sha256(text.encode()).hexdigest()[:16]
        info["hlo_copies"] = hlo_census.copy_census(text)
        info["hlo_relayouted_reductions"] = [
            f"{h.operand_shape} reduced over {h.dimensions} -> {h.result_shape}" for h in hazards]
        info["hlo_custom_calls"] = sorted({
            token.split('"')[1] for token in text.split("custom_call_target=")[1:] if '"' in token
        })
        return info, text

    def run(self, steps, x, y):
        loss = None
        state = self.state
        for _ in range(steps):
            *state, loss = self.compiled(*state, x, y)
        self.state = tuple(state)
        self.jax.block_until_ready((loss, self.state[0]))
        self.losses.append(float(loss))
        return float(loss)


def _first_of(items):
    if not items:
        return "none"
    return f"{len(items)} ({items[0]}{', ...' if len(items) > 1 else ''})"


def matmul_tflops(jax, size, repeats=30):
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (size, size), jnp.bfloat16)
    b = jax.random.normal(jax.random.key(1), (size, size), jnp.bfloat16)
    f = jax.jit(lambda a, b: a @ b)
    f(a, b).block_until_ready()
    started = time.perf_counter()
    for _ in range(repeats):
        out = f(a, b)
    out.block_until_ready()
    return 2 * size**3 * repeats / (time.perf_counter() - started) / 1e12


# --------------------------------------------------------------------------- shapes


class Shape:
    """One model shape: its batch, FLOPs, variants and record in results.json."""

    def __init__(self, run, name, dims, jax, np):
        from tfbsz.models import efficiency
        from tfbsz.models.attention import choose_kernel

        self.name, self.dims = name, dims
        self.tokens_per_step = dims["batch"] * dims["seq_len"]
        flops_per_token = efficiency.transformer_flops_per_token(
            dims["num_layers"], dims["d_model"], dims["mlp_dim"], dims["seq_len"])
        self.flops_per_step = flops_per_token * self.tokens_per_step
        head_dim = dims["d_model"] // dims["num_heads"]
        probe = jax.ShapeDtypeStruct((dims["batch"], dims["seq_len"], dims["num_heads"], head_dim), jax.numpy.bfloat16)
        auto_kernel, auto_reason = choose_kernel("auto", probe)
        self.record = run.results["shapes"][name] = {
            "shape": dims, "tokens_per_step": self.tokens_per_step, "flops_per_token": flops_per_token,
            "flops_per_step": self.flops_per_step, "auto_resolves_to": auto_kernel, "auto_reason": auto_reason,
            "variants": {}, "skipped": [],
        }
        run.say(f"== shape {name}: {dims}; {self.flops_per_step / 1e12:.2f} TFLOP/step (model FLOPs); "
                f"attention auto -> {auto_kernel}{' (' + auto_reason + ')' if auto_reason else ''}")
        rng = np.random.default_rng(0)
        self.data = rng.integers(0, dims["vocab"], size=(dims["batch"], dims["seq_len"] + 1), dtype=np.int32)
        self.x, self.y = jax.device_put(self.data[:, :-1]), jax.device_put(self.data[:, 1:])
        self.variants, self.firsts, self.hlo = [], {}, {}

    def add(self, run, args, name, jax, keras, np):
        family, options = VARIANTS[name]
        keras.utils.set_random_seed(0)
        with (positions_before_layout_fix(BEFORE_LAYOUT_FIX[name]) if name in BEFORE_LAYOUT_FIX
              else contextlib.nullcontext()):
            model = build_model(keras, family, options, self.dims)
            if family in self.firsts:  # every variant of a family starts from the same weights
                copy_weights(np, self.firsts[family], model)
            else:
                self.firsts[family] = model
            variant = Variant(name, self.name, model, jax, keras)
            info, text = variant.compile(self.x, self.y)
        if name == "tfbsz_auto":
            self.hlo[name] = text
        info.update(family=family, options=options, parameters=int(model.count_params()))
        variant.run(1, self.x, self.y)  # the loss of the initial weights on the batch
        info["loss_at_init"] = variant.losses[0]
        variant.run(args.warmup, self.x, self.y)
        self.record["variants"][name] = info
        self.variants.append(variant)
        run.say(f"   {self.name} {name}: {info['parameters']:,} params; trace {info['trace_s']:.1f} s, "
                f"compile {info['compile_s']:.1f} s; temp {info.get('temp_bytes', 0) / 2**30:.2f} GiB; "
                f"initial loss {info['loss_at_init']:.5f}; custom calls {info['hlo_custom_calls']}; "
                f"compiled transposes/copies {info['hlo_copies']['transpose']}/{info['hlo_copies']['copy']}; "
                f"relayouted reductions {_first_of(info['hlo_relayouted_reductions'])}")

    def time(self, run, args, peak):
        """Rounds of `args.steps` steps of every variant, the order rotated each round."""
        variants = self.variants
        times = {v.name: [] for v in variants}
        for r in range(args.rounds):
            for v in variants[r % len(variants):] + variants[:r % len(variants)]:
                started = time.perf_counter()
                v.run(args.steps, self.x, self.y)
                times[v.name].append(1000.0 * (time.perf_counter() - started) / args.steps)
        record = self.record
        peak_note = f"{peak / 1e12:.0f} TFLOP/s" if peak else "unknown (no MFU)"
        run.say(f"== {self.name}: {args.rounds} rounds x {args.steps} steps; peak {peak_note}")
        run.say(f"   {'variant':<38s} {'ms/step':>9s} {'(min-max)':>16s} {'tokens/s':>11s} {'MFU':>7s} "
                f"{'vs ' + BASELINE:>22s} {'loss init / last':>20s}")
        for v in variants:
            info = record["variants"][v.name]
            ms = statistics.median(times[v.name])
            info.update(ms_per_step_rounds=times[v.name], ms_per_step=ms, steps_per_s=1000.0 / ms,
                        tokens_per_s=self.tokens_per_step * 1000.0 / ms, loss_last=v.losses[-1],
                        mfu=self.flops_per_step / (ms / 1000.0) / peak if peak else None)
            if BASELINE in times:
                info["ratio_to_" + BASELINE] = statistics.median(
                    a / b for a, b in zip(times[v.name], times[BASELINE]))
            ratio = info.get("ratio_to_" + BASELINE)
            run.say(f"   {v.name:<38s} {ms:9.2f} {min(times[v.name]):7.2f}-{max(times[v.name]):7.2f} "
                    f"{info['tokens_per_s']:11,.0f} {100 * info['mfu'] if info['mfu'] else float('nan'):6.1f}% "
                    f"{ratio if ratio else float('nan'):22.3f} {info['loss_at_init']:9.5f} / {v.losses[-1]:8.5f}")
        for family, reference in (("tfbsz", "tfbsz_xla"), ("keras", "keras_mha_xla")):
            if reference in record["variants"]:
                base = record["variants"][reference]["loss_at_init"]
                record[f"{family}_initial_loss_max_rel_diff_to_{reference}"] = max(
                    abs(i["loss_at_init"] - base) / abs(base)
                    for i in record["variants"].values() if i["family"] == family)

    def profile(self, run, args, keep_files):
        """Profiler traces of the `PROFILED` variants, summarised (and kept as files if `keep_files`)."""
        import profile_summary

        self.record["profiles"] = {}
        for v in self.variants:
            if v.name not in PROFILED:
                continue
            keep = os.path.join(run.out, f"{v.name}_{self.name}.trace.json.gz") if keep_files else None
            log_dir = os.path.join("/tmp", f"tfbsz_mfu_profile_{v.name}_{self.name}")
            try:
                summary = profile_summary.profile_steps(
                    lambda n: v.run(n, self.x, self.y), args.profile_steps, log_dir, keep)
            except Exception as e:  # a profile is a bonus: never lose the timings for it
                self.record["profiles"][v.name] = {"error": f"{type(e).__name__}: {e}"}
                run.say(f"   profile of {v.name} failed: {type(e).__name__}: {e}")
                continue
            self.record["profiles"][v.name] = summary
            run.say(profile_summary.format_summary(f"{v.name} @ {self.name}", summary,
                                                   self.record["variants"][v.name]["ms_per_step"]))
            run.save()
        if keep_files and "tfbsz_auto" in self.hlo:
            with gzip.open(os.path.join(run.out, f"tfbsz_auto_{self.name}.hlo.txt.gz"), "wt") as f:
                f.write(self.hlo["tfbsz_auto"])


# --------------------------------------------------------------------------- model.fit


FIT_KINDS = {
    "none": "no per-batch callback",
    "steps_to_target": "StepsToTarget",
    "steps_to_target_in_line": "StepsToTarget + a per-batch hook (Keras syncs every step)",
}


def measure_fit(run, args, shape, keras, np, peak):
    """ms/step of tfbsz `auto` through `model.fit`: no callback, `StepsToTarget`, and `StepsToTarget`
    beside a callback with a per-batch hook (which makes Keras wait for every step's logs).

    Per-step time is (time of fit(2n) - time of fit(n)) / n, so fit's fixed costs cancel.
    """
    import types

    from tfbsz.models import efficiency
    from tfbsz.study.callbacks import StepsToTarget

    class PerBatchHook(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    keras.utils.set_random_seed(0)
    model = build_model(keras, "tfbsz", {"attention": "auto"}, shape.dims)
    copy_weights(np, shape.firsts["tfbsz"], model)
    data, tokens_per_step, flops_per_step = shape.data, shape.tokens_per_step, shape.flops_per_step
    model.compile(optimizer=keras.optimizers.Adam(3e-4),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    n = args.steps
    batch = shape.dims["batch"]
    xs = np.tile(data[:, :-1], (2 * n, 1))
    ys = np.tile(data[:, 1:], (2 * n, 1))

    throughput = efficiency.measurement_throughput(
        {"name": "transformer", **{k: shape.dims[k] for k in ("num_layers", "d_model", "num_heads", "mlp_dim")}},
        types.SimpleNamespace(input_shape=(shape.dims["seq_len"],)), "mixed_bfloat16")
    last = {}

    def callbacks(kind):
        if kind == "none":
            return []
        # As in a study's trial: evaluation only at the end here, tokens/s and MFU in its row.
        last[kind] = StepsToTarget((data[:, :-1], data[:, 1:]), "val/cross_entropy_error", -1.0,
                                   eval_every=10**9, batch_size=batch, throughput=throughput)
        return [last[kind], PerBatchHook()] if kind == "steps_to_target_in_line" else [last[kind]]

    def timed(steps, kind):
        started = time.perf_counter()
        model.fit(xs[:steps * batch], ys[:steps * batch], batch_size=batch, epochs=1, shuffle=False,
                  callbacks=callbacks(kind), verbose=0)
        return time.perf_counter() - started

    started = time.perf_counter()
    timed(2, "none")  # compiles the train step
    compile_s = time.perf_counter() - started
    timed(2, "steps_to_target")  # and StepsToTarget's closing evaluation
    per_step = {kind: [] for kind in FIT_KINDS}
    kinds = list(FIT_KINDS)
    for r in range(max(3, args.rounds - 2)):
        for kind in kinds[r % len(kinds):] + kinds[:r % len(kinds)]:
            short, long = timed(n, kind), timed(2 * n, kind)
            per_step[kind].append(1000.0 * (long - short) / n)
    result = {"compile_s": compile_s, "ms_per_step_rounds": per_step}
    for kind, values in per_step.items():
        ms = statistics.median(values)
        result[kind] = {"ms_per_step": ms, "tokens_per_s": tokens_per_step * 1000.0 / ms,
                        "mfu": flops_per_step / (ms / 1000.0) / peak if peak else None}
        if kind in last:
            row = last[kind].measurements[-1]
            result[kind]["steps_to_target_row"] = {k: v for k, v in row.items() if k.startswith("train/") or k == "step"}
        run.say(f"   model.fit, tfbsz auto, {FIT_KINDS[kind]}: {ms:.2f} ms/step"
                + (f", MFU {100 * result[kind]['mfu']:.1f}%" if peak else "")
                + f" (rounds {', '.join(f'{v:.2f}' for v in values)})")
    for kind in last:
        run.say(f"   {FIT_KINDS[kind]}: its own row for its last fit: {result[kind]['steps_to_target_row']}")
    return result


# --------------------------------------------------------------------------- main


def main(argv=None):
    args = parse_args(argv)
    backend = os.environ.setdefault("KERAS_BACKEND", "jax")
    if backend != "jax":
        sys.exit(f"transformer_mfu.py: error: needs KERAS_BACKEND=jax, got {backend!r}")
    import jax

    cache = os.path.join("/tmp", "tfbsz_mfu_jax_cache")
    jax.config.update("jax_compilation_cache_dir", cache)  # identical programs (auto = flash) compile once
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    import keras
    import numpy as np
    from tfbsz.models import efficiency

    run = Run(args.out)
    keras.config.set_dtype_policy("mixed_bfloat16")
    device = jax.devices()[0]
    kind = None if device.platform == "cpu" else device.device_kind
    peak = args.peak_tflops * 1e12 if args.peak_tflops else efficiency.peak_flops(kind, "mixed_bfloat16")
    try:
        from jax._src.lib import cuda_versions
        cudnn = cuda_versions.cudnn_get_version() if cuda_versions else None
    except Exception:
        cudnn = None
    run.results["machine"] = {
        "device": str(device), "device_kind": kind or device.platform, "devices": len(jax.devices()),
        "jax": jax.__version__, "keras": keras.__version__, "python": platform.python_version(),
        "cudnn": cudnn, "xla_flags": os.environ.get("XLA_FLAGS", ""), "peak_flops": peak,
        "compilation_cache": cache,
    }
    run.results["config"] = {k: v for k, v in vars(args).items() if k != "out"}
    size = 1024 if args.tiny or device.platform == "cpu" else 8192
    run.results["machine"]["bf16_matmul_tflops"] = tflops = matmul_tflops(jax, size)
    run.say(f"# {kind or device.platform}: jax {jax.__version__}, keras {keras.__version__}, cuDNN {cudnn}; "
            f"mixed_bfloat16; bf16 {size}^3 matmul {tflops:.0f} TFLOP/s; "
            f"peak for MFU {peak / 1e12 if peak else float('nan'):.0f} TFLOP/s; XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
    run.save()
    dims = TINY_SHAPES if args.tiny else SHAPES
    shapes = {name: Shape(run, name, dims[name], jax, np) for name in args.shapes}
    plan = [(s, v) for s, v in PLAN if s in shapes and (not args.variants or v in args.variants)]
    run.say(f"== compiling {len(plan)} variants, most wanted first; none started after {args.budget_s:.0f} s")
    for shape_name, name in plan:
        shape = shapes[shape_name]
        if run.elapsed() > args.budget_s:
            shape.record["skipped"].append(name)
            run.say(f"   {shape_name} {name}: skipped (past --budget-s {args.budget_s:.0f} s)")
            continue
        shape.add(run, args, name, jax, keras, np)
        run.save()
    for index, shape in enumerate(shapes.values()):
        if not shape.variants:
            continue
        shape.time(run, args, peak)
        run.save()
        if args.profile_steps > 0:
            shape.profile(run, args, keep_files=index == 0)
        run.save()
    first = next(iter(shapes.values()))
    if not args.no_fit and "tfbsz" in first.firsts:
        if run.elapsed() > args.fit_after_s:
            run.say(f"== model.fit measurement skipped (past --fit-after-s {args.fit_after_s:.0f} s)")
        else:
            first.record["fit"] = measure_fit(run, args, first, keras, np, peak)
            run.save()
    run.results["elapsed_s"] = run.elapsed()
    run.save()
    run.say(f"done in {run.elapsed():.0f} s; results in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
