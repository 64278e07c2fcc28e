"""Whole training step at scale: tfbsz LAMB against Keras Adam, tfbsz LARS against Keras momentum.

Issue 15 item 2: the goal is LAMB <= 1.02x Adam and LARS <= 1.02x SGD+momentum for the whole
training step of a tfbsz `transformer` (byte vocabulary, sequence 1024, batch 32, JAX,
`mixed_bfloat16`, flash attention) at 86M and about 350M parameters.

What is timed: Keras's own JAX training step (`model.train_step`, what `fit` runs each step:
forward, loss, gradients, `optimizer.stateless_apply`, loss tracker), `--steps` steps inside
one `jax.lax.fori_loop` of one jitted program with the state donated, so no Python, host
transfer or dispatch enters the time (`fit` measurements drifted by 35% and gave 1.00-1.34x
per round). Every optimizer trains its own copy of the model from the same initial weights
on the same fixed batch. After compiling, `--rounds` rounds time every optimizer once each,
the order rotated every round; the result per optimizer is the median over rounds of its
time divided by its baseline's time in the same round (paired), with the range of those
ratios. Baselines: Keras Adam for Adam-like optimizers, Keras SGD+momentum for momentum-like.

Every size is built under `--policy` (set again before each size: `clear_session` between
sizes resets Keras's global policy), and the run stops with an error if a model's variables or
computation are not in the policy's dtypes, or if, on a GPU, the compiled step does not call
cuDNN flash attention (`--attention xla` to time XLA attention on purpose).

Controls and diagnosis:
* `keras_adam_again` / `keras_momentum_again`: the baseline compiled a second time, a
  separate program: its ratio is this run's floor (compile-to-compile differences, such
  as another GEMM algorithm picked by autotuning, plus timing noise);
* `tfbsz_lamb_grouped` / `tfbsz_lars_grouped` (default at the first size): tfbsz's previous
  way on GPUs (each norm a reduction of its own, same-shape tensors of at most 2^20
  elements stacked first, one trust ratio per variable); `tfbsz_lamb_rows` (default at the
  first size): today's two-stage norms, but finished per variable instead of per bucket
  (no variable waits for others); `tfbsz_lamb_allgrouped`: stacked whatever their size;
  `tfbsz_lamb_separate`: one full reduction per tensor;
* kernels: fusions, library calls and unfused reductions in the compiled loop body, and
  how many of them belong to the optimizer (their HLO `op_name` is in its name scope);
  bytes: XLA's cost analysis of the compiled loop (what it reads and writes per step);
* per optimizer, at the sizes of `--update-sizes` (none by default), the update
  alone (a jitted loop of `stateless_apply` with gradients rescaled every pass,
  `bench/optimizers.py`'s `JaxTimer`) and its difference to the baseline's;
* at the sizes of `--profile-sizes` (the first by default), a JAX profiler trace of
  `--profile-steps` steps per optimizer: kernel time per step split into the optimizer's
  kernels (by name scope, as above) and the rest (forward, backward, loss, library
  calls). When the whole-step difference is not in the optimizer's own kernels, the
  update changed how the rest of the step compiled;
* `--dump-hlo`: the compiled step of every optimizer at the profiled sizes, one after
  the other in `<out>/optimizers_at_scale_<size>_hlo.txt.gz` (one file: the GPU machine
  returns few files), to see what XLA fused on that machine.

`--compile-only` compiles and reports kernels and bytes without running anything (the CPU
check of the 86M step: no model of that size runs on 2 CPU cores).

Compilation: the first optimizer of a size compiles alone (filling XLA's in-process
autotuning cache for the model's GEMMs), the others in `--compile-workers` threads.

Results: `<out>/optimizers_at_scale_<size>.json`, rewritten after every stage and every
round, so a run cut short (an error, out of memory, `timeout`'s SIGTERM) keeps what it
measured; a size that failed records its error and the next size still runs (exit status 1).

Examples:
    # GPU (one H200, about 3.5 minutes, a third of it compiling):
    KERAS_BACKEND=jax timeout 235 python bench/optimizers_at_scale.py --sizes 86m,350m --rounds 8 \
        --dump-hlo --out results/
    # CPU: kernels and bytes of the 86M step, nothing run (about 3 minutes on 2 cores):
    KERAS_BACKEND=jax python bench/optimizers_at_scale.py --sizes 86m --compile-only \\
        --only keras_adam,tfbsz_lamb,keras_momentum,tfbsz_lars --out /tmp/at_scale
    # CPU check with a tiny model:
    KERAS_BACKEND=jax python bench/optimizers_at_scale.py --sizes tiny --rounds 2 --steps 2 \\
        --policy float32 --out /tmp/at_scale
"""

import argparse
import concurrent.futures
import gc
import gzip
import json
import os
import re
import signal
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

from optimizers import (  # noqa: E402
    EXTRA, JaxTimer, bytes_accessed, count_kernels, machine, optimizers)
from tfbsz.models.transformer import build_transformer  # noqa: E402

VOCAB = 256  # bytes
SIZES = {
    # name: (sequence, d_model, layers, heads, batch)
    "micro": (16, 32, 1, 2, 2),  # CPU checks
    "tiny": (32, 64, 2, 2, 2),
    "86m": (1024, 768, 12, 12, 32),  # issue 15's shape: 86.0M parameters
    "350m": (1024, 1536, 12, 12, 32),  # 341.7M: the 86M model, twice as wide
}
STEPS = {"micro": 2, "tiny": 2, "86m": 10, "350m": 4}  # steps per timed loop: about 0.6-0.8 s on an H200
BASELINES = {"adam": "keras_adam", "momentum": "keras_momentum"}
DEFAULT_SET = "keras_adam,tfbsz_lamb,keras_momentum,tfbsz_lars"
FIRST_SIZE_EXTRA = "keras_adam_again,tfbsz_lamb_grouped,tfbsz_lars_grouped,tfbsz_lamb_rows"
FLASH_CALL = "cudnn$fmha"  # in the custom-call target of cuDNN's flash attention


class Interrupted(KeyboardInterrupt):
    """SIGTERM (as `timeout` sends): stop measuring, keep what was measured."""


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


def model_for(size, attention):
    sequence, width, layers, heads, _ = SIZES[size]
    return build_transformer((sequence,), VOCAB, num_layers=layers, d_model=width,
                             num_heads=heads, mlp_dim=4 * width, attention=attention)


def check_policy(model, policy):
    """Raises unless `model` was built under `policy` (variables and computation)."""
    expected = keras.dtype_policies.get(policy)
    found = {(layer.dtype_policy.variable_dtype, layer.dtype_policy.compute_dtype)
             for layer in model._flatten_layers() if layer.weights}
    wanted = (expected.variable_dtype, expected.compute_dtype)
    # Embedding tables never autocast (tfbsz.models): their compute dtype may be the variable's.
    wrong = {pair for pair in found if pair[0] != wanted[0]}
    if not found or wrong or wanted not in found:
        raise RuntimeError(f"the model was not built under {policy} (variable, compute dtypes "
                           f"found: {sorted(found)}); set the policy before building it")


class WholeStepLoop:
    """`n` of Keras's JAX training steps in one jitted `fori_loop` (state donated)."""

    def __init__(self, model, optimizer, weights, batch, keep_state=True):
        self.model = model
        self.scope = optimizer.name  # the name scope of the optimizer's ops in the HLO
        model.compile(optimizer=optimizer,
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.set_weights(weights)
        optimizer.build(model.trainable_variables)
        # Keras's private state accessor, as its JAX trainer uses it (benchmark only); copied,
        # since the loop donates it and the variables keep theirs (`keep_state=False`: only
        # its shapes, for compiling without running).
        state = model._get_jax_state(
            trainable_variables=True, non_trainable_variables=True,
            optimizer_variables=True, metrics_variables=True, purge_model_variables=False)
        copy = jax.numpy.copy if keep_state else (lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype))
        self.state = jax.tree.map(copy, state)
        self.batch = tuple(jax.numpy.asarray(b) for b in batch)

        def loop(state, batch, n):
            def body(_, carry):
                state, _ = carry
                logs, state = model.train_step(state, (*batch, None))
                return state, logs["loss"]

            return jax.lax.fori_loop(0, n, body, (state, jax.numpy.float32(0.0)))

        self.lowered = jax.jit(loop, donate_argnums=0).lower(self.state, self.batch, np.int32(1))
        self.uses_flash = FLASH_CALL in self.lowered.as_text()
        self.compiled = None
        self.hlo = ""
        self.kernels = self.optimizer_kernels = self.bytes_accessed = None

    def compile(self):
        self.compiled = self.lowered.compile()
        self.hlo = self.compiled.as_text()
        body = loop_body(self.hlo)
        self.kernels = count_kernels(body)
        self.optimizer_kernels = count_kernels(body, scope=self.scope)
        self.bytes_accessed = bytes_accessed(self.compiled)
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


def loop_body(hlo_text):
    """The body of the entry computation's while loop (one step), as an `ENTRY` computation."""
    entry = hlo_text[hlo_text.index("ENTRY"):]
    entry = entry[:entry.index("\n}")]
    body_name = entry[entry.index("body=") + len("body="):].split(",")[0].split()[0].strip("%")
    for marker in (f"\n%{body_name} ", f"\n{body_name} ", f"\n%{body_name}.", f"\n{body_name}."):
        if marker in hlo_text:
            body = hlo_text[hlo_text.index(marker) + 1:]
            return "ENTRY " + body[:body.index("\n}")] + "\n}"
    raise ValueError(f"while body {body_name} not found in the compiled HLO")


OP_NAME = re.compile(r'^\s*(?:ROOT )?%?([\w.\-]+) = .*?op_name="([^"]*)"', re.MULTILINE)


def op_names(hlo_text):
    """HLO instruction name -> its metadata `op_name` (the JAX name scopes it was traced in).

    Also under the name with dots as underscores: GPU kernels are named so
    (`loop_add_fusion.11` runs as kernel `loop_add_fusion_11`, and fusions that XLA
    deduplicated run as the first one's kernel).
    """
    names = {}
    for name, op_name in OP_NAME.findall(hlo_text):
        names[name] = op_name
        names.setdefault(name.replace(".", "_"), op_name)
    return names


def scope_times(xplane_path, hlo_text, scope, steps):
    """Kernel time per step of a traced loop, split by whether the kernel's HLO op is in `scope`.

    Returns ms per step: `{"kernels_ms", "optimizer_ms", "rest_ms", "unattributed_ms",
    "optimizer_top"}` (the last: the optimizer's 20 costliest kernels, by name). A
    kernel is matched to its HLO op by its name (GPU; under CUDA graphs the `hlo_op` stat
    names the command buffer) or its `hlo_op` stat (CPU thunks); `rest_ms` includes the
    kernels that match no op (library calls: GEMMs, cuDNN attention), also counted in
    `unattributed_ms`.
    """
    from jax.profiler import ProfileData
    import profile_summary

    names = op_names(hlo_text)
    marker = f"/{scope}/"
    totals = {"optimizer_ms": 0.0, "rest_ms": 0.0, "unattributed_ms": 0.0}
    optimizer_kernels = {}
    planes, where = profile_summary._device_planes(ProfileData.from_file(xplane_path))
    for plane in planes:
        lines = [line for line in plane.lines if line.name not in ("XLA Ops", "XLA Modules")
                 and not any(line.name.startswith(s) for s in profile_summary.SKIP_LINES)]
        streams = [line for line in lines if line.name.startswith("Stream")]
        for line in streams if where == "device" and streams else lines:
            for event in line.events:
                stats = dict(event.stats)
                op_name = names.get(event.name) or names.get(str(stats.get("hlo_op", "")))
                if op_name is None and where == "host" and "hlo_op" not in stats:
                    continue  # host bookkeeping, not a kernel of the program
                ms = float(event.duration_ns) * 1e-6 / steps
                if op_name is not None and marker in op_name:
                    totals["optimizer_ms"] += ms
                    kernel = optimizer_kernels.setdefault(event.name, [0.0, 0])
                    kernel[0] += ms
                    kernel[1] += 1
                else:
                    totals["rest_ms"] += ms
                    if op_name is None:
                        totals["unattributed_ms"] += ms
    totals["kernels_ms"] = totals["optimizer_ms"] + totals["rest_ms"]
    totals["optimizer_top"] = [
        {"name": name, "ms_per_step": ms, "calls_per_step": calls / steps}
        for name, (ms, calls) in sorted(optimizer_kernels.items(), key=lambda kv: -kv[1][0])[:20]]
    return totals


class SizeRecord:
    """One size's results, written to `<out>/optimizers_at_scale_<size>.json` at every `save`."""

    def __init__(self, size, out, args):
        sequence, width, layers, heads, batch_size = SIZES[size]
        self.path = os.path.join(out, f"optimizers_at_scale_{size}.json") if out else ""
        self.data = {"size": size, "shape": {"sequence": sequence, "d_model": width,
                                             "layers": layers, "heads": heads,
                                             "batch": batch_size, "vocab": VOCAB},
                     "policy": args.policy, "attention": args.attention, "rounds_done": 0,
                     "steps": args.steps or STEPS[size], "machine": machine(),
                     "stage": "building", "optimizers": {}}

    def row(self, name):
        return self.data["optimizers"].setdefault(name, {})

    def save(self, stage=None):
        if stage:
            self.data["stage"] = stage
        summarize(self.data)
        if self.path:
            with open(self.path + ".tmp", "w") as f:
                json.dump(self.data, f, indent=1)
            os.replace(self.path + ".tmp", self.path)


def summarize(data):
    """Fills each row's paired ratios and differences from the raw times measured so far."""
    rows = data["optimizers"]
    for name, row in rows.items():
        base = rows.get(row.get("baseline"), {})
        times, base_times = row.get("whole_step_s", []), base.get("whole_step_s", [])
        if times:
            row["median_ms"] = 1e3 * statistics.median(times)
        pairs = list(zip(times, base_times))
        if pairs:
            ratios = [t / b for t, b in pairs]
            row.update(paired_ratio=statistics.median(ratios), ratio_min=min(ratios),
                       ratio_max=max(ratios),
                       difference_ms=1e3 * statistics.median(t - b for t, b in pairs))
        if row.get("update_s"):
            row["update_median_ms"] = 1e3 * statistics.median(row["update_s"])
            base_update = base.get("update_s", [])
            if base_update:
                row["update_difference_ms"] = 1e3 * statistics.median(
                    t - b for t, b in zip(row["update_s"], base_update))


def measure_size(size, names, args, record):
    """Compiles and times `names` at `size`, saving `record` after every stage and round."""
    steps = args.steps or STEPS[size]
    batch_size = SIZES[size][4]
    make = factories()
    keras.config.set_dtype_policy(args.policy)  # clear_session() after a size resets it
    rng = np.random.default_rng(0)
    x = rng.integers(0, VOCAB, size=(batch_size, SIZES[size][0])).astype("int32")
    batch = (x, np.roll(x, -1, axis=1))
    first = model_for(size, args.attention)
    check_policy(first, args.policy)
    weights = first.get_weights()
    record.data["parameters"] = sum(int(np.prod(v.shape)) for v in first.trainable_variables)
    record.data["tokens_per_step"] = batch_size * SIZES[size][0]
    stamp = time.perf_counter()

    loops = {}
    for name in names:
        model = first if not loops else model_for(size, args.attention)
        check_policy(model, args.policy)
        loops[name] = WholeStepLoop(model, make[name][0](), weights, batch,
                                    keep_state=not args.compile_only)
        record.row(name)["baseline"] = make[name][1]
        if args.attention != "xla" and jax.default_backend() == "gpu" and not loops[name].uses_flash:
            raise RuntimeError(f"{size}, {name}: the step does not call cuDNN flash attention "
                               f"({FLASH_CALL} not in the lowered program); see the "
                               "'model.attention' warning above, or pass --attention xla")
    traced = time.perf_counter()
    log(f"{size}: traced in {traced - stamp:.0f} s")
    loops[names[0]].compile()
    with concurrent.futures.ThreadPoolExecutor(args.compile_workers) as pool:
        list(pool.map(lambda loop: loop.compile(), [loops[n] for n in names[1:]]))
    compiled = time.perf_counter()
    log(f"{size}: compiled in {compiled - traced:.0f} s")
    for name, loop in loops.items():
        record.row(name).update(kernels=loop.kernels, optimizer_kernels=loop.optimizer_kernels,
                                bytes_accessed=loop.bytes_accessed, scope=loop.scope,
                                flash_attention=loop.uses_flash)
    if args.dump_hlo and size in args.profile_sizes and record.path:
        with gzip.open(record.path.replace(".json", "_hlo.txt.gz"), "wt") as f:
            for name, loop in loops.items():
                f.write(f"==== {name} (name scope {loop.scope}) ====\n{loop.hlo}\n")
    record.save("compiled")
    if args.compile_only:
        del loops, model  # only `first` is left, for the update's variables
        gc.collect()
        if size in args.update_sizes:
            measure_update(names, make, first.trainable_variables, rng, args, record)
        record.save("done")
        return

    for loop in loops.values():
        loop.run(args.warmup)
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            record.row(name).setdefault("whole_step_s", []).append(loops[name].run(steps) / steps)
        record.data["rounds_done"] = r + 1
        record.save("timing")
    log(f"{size}: timed {args.rounds} rounds x {steps} steps")

    if args.profile_steps and size in args.profile_sizes:
        profile(loops, args, record)
        log(f"{size}: profiled {args.profile_steps} steps per optimizer")
    for loop in loops.values():  # frees the training states before the update timers take theirs
        loop.state = loop.compiled = None
    del loops

    if size in args.update_sizes:
        measure_update(names, make, first.trainable_variables, rng, args, record)
    record.save("done")


def measure_update(names, make, variables, rng, args, record):
    """The update alone (`JaxTimer`): kernels and bytes, and unless `--compile-only`, timed."""
    grads = [(1e-3 * rng.normal(size=v.shape)).astype("float32") for v in variables]
    timers = {}
    for name in names:
        timer = JaxTimer(make[name][0](), variables, grads, True)
        record.row(name).update(update_kernels=timer.kernels,
                                update_bytes_accessed=timer.bytes_accessed)
        record.save("update")
        if not args.compile_only:  # compiling only: one timer's arrays at a time
            timers[name] = timer
        del timer
    if args.compile_only:
        return
    for timer in timers.values():
        timer.run(1)
    for r in range(args.update_rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            seconds = timers[name].run(args.update_steps) / args.update_steps
            record.row(name).setdefault("update_s", []).append(seconds)
        record.save("update")
    log(f"timed the update alone, {args.update_rounds} rounds")


def profile(loops, args, record):
    """A profiler trace of `--profile-steps` steps per optimizer, its kernel time split by scope."""
    import profile_summary

    for name, loop in loops.items():
        log_dir = os.path.join("/tmp", f"tfbsz_at_scale_profile_{name}")
        try:
            summary = profile_summary.profile_steps(loop.run, args.profile_steps, log_dir)
            xplanes = [os.path.join(root, f) for root, _, files in os.walk(log_dir)
                       for f in files if f.endswith(".xplane.pb")]
            split = scope_times(max(xplanes, key=os.path.getmtime), loop.hlo, loop.scope,
                                args.profile_steps)
        except Exception as e:  # a profile is a diagnosis: never lose the timings for it
            record.row(name)["profile"] = {"error": f"{type(e).__name__}: {e}"}
            log(f"profile of {name} failed: {type(e).__name__}: {e}")
            continue
        split.update(kernels_per_step=summary["kernels_per_step"],
                     categories=summary["categories"], top_kernels=summary["top_kernels"][:15])
        record.row(name)["profile"] = split
        record.save("profiling")


def print_table(data):
    rows = data["optimizers"]
    print(f"\n{data['size']}: {data.get('parameters', 0):,} parameters, {data['shape']}, "
          f"{data['policy']}, attention {data['attention']}, {data['rounds_done']} rounds x "
          f"{data['steps']} steps (stage reached: {data['stage']})")
    if data.get("error"):
        print(f"ERROR: {data['error']}")
    print(f"{'optimizer':22s} {'ms/step':>8s} {'vs base':>8s} {'range':>13s} {'+ms':>6s}"
          f" {'kernels':>8s} {'in opt':>7s} {'GB/step':>8s} {'update':>7s} {'upd +ms':>7s}"
          f" {'prof opt':>8s} {'rest':>7s}")

    def number(row, key, digits, scale=1.0):
        value = row.get(key)
        return "-" if value is None else f"{scale * value:.{digits}f}"

    for name, row in rows.items():
        spread = (f"{row['ratio_min']:.3f}..{row['ratio_max']:.3f}" if "ratio_min" in row else "-")
        prof = row.get("profile", {})
        print(f"{name:22s} {number(row, 'median_ms', 2):>8s} {number(row, 'paired_ratio', 3):>8s}"
              f" {spread:>13s} {number(row, 'difference_ms', 2):>6s} {row.get('kernels', '-'):>8}"
              f" {row.get('optimizer_kernels', '-'):>7} {number(row, 'bytes_accessed', 3, 1e-9):>8s}"
              f" {number(row, 'update_median_ms', 3):>7s} {number(row, 'update_difference_ms', 3):>7s}"
              f" {number(prof, 'optimizer_ms', 3):>8s} {number(prof, 'rest_ms', 2):>7s}")
    if any("update_kernels" in row for row in rows.values()):
        print("update alone (stateless_apply compiled by itself): kernels, GB read and written")
        for name, row in rows.items():
            if "update_kernels" in row:
                print(f"   {name:22s} {row['update_kernels']:>6} "
                      f"{number(row, 'update_bytes_accessed', 3, 1e-9):>8s}")
    print(f"(vs base: median of per-round ratios to {', '.join(sorted(set(BASELINES.values())))}"
          "; +ms: median per-round difference; kernels: in the compiled step, 'in opt' of them in"
          " the optimizer's name scope; GB/step: XLA's bytes accessed; update: the update alone,"
          " ms; prof opt / rest: profiled kernel ms per step in the optimizer's scope / the rest)",
          flush=True)


def log(text):
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="86m,350m", help=f"comma-separated, of {list(SIZES)}")
    parser.add_argument("--only", default=DEFAULT_SET,
                        help="comma-separated optimizers (baselines are added)")
    parser.add_argument("--first-size-extra", default=FIRST_SIZE_EXTRA,
                        help="optimizers added at the first size only (controls, variants)")
    parser.add_argument("--steps", type=int, default=0,
                        help=f"steps per timed loop (default per size: {STEPS})")
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds per optimizer")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps after compiling")
    parser.add_argument("--update-rounds", type=int, default=5,
                        help="rounds timing the update alone (0: skip)")
    parser.add_argument("--update-sizes", default="",
                        help="sizes at which the update alone is timed (default: none)")
    parser.add_argument("--update-steps", type=int, default=20)
    parser.add_argument("--profile-steps", type=int, default=3,
                        help="steps traced per optimizer at --profile-sizes (0: no profile)")
    parser.add_argument("--profile-sizes", default="",
                        help="sizes profiled, and dumped with --dump-hlo (default: the first)")
    parser.add_argument("--dump-hlo", action="store_true",
                        help="write the compiled steps at --profile-sizes to "
                             "<out>/optimizers_at_scale_<size>_hlo.txt.gz")
    parser.add_argument("--compile-only", action="store_true",
                        help="compile and count kernels and bytes; time nothing")
    parser.add_argument("--policy", default="mixed_bfloat16")
    parser.add_argument("--attention", default="auto", choices=["auto", "flash", "xla"],
                        help="the model's attention; on a GPU anything but xla must be flash")
    parser.add_argument("--compile-workers", type=int, default=4)
    parser.add_argument("--out", default="", help="folder for optimizers_at_scale_<size>.json")
    args = parser.parse_args(argv)

    if keras.backend.backend() != "jax":
        parser.error("needs KERAS_BACKEND=jax")
    known = factories()
    args.sizes = args.sizes.split(",")
    for size in args.sizes:
        if size not in SIZES:
            parser.error(f"--sizes: unknown size {size!r}; known: {', '.join(SIZES)}")
    args.update_sizes = args.update_sizes.split(",") if args.update_sizes else []
    args.profile_sizes = args.profile_sizes.split(",") if args.profile_sizes else args.sizes[:1]
    for option, sizes in (("update-sizes", args.update_sizes), ("profile-sizes", args.profile_sizes)):
        for size in sizes:
            if size not in args.sizes:
                parser.error(f"--{option}: {size!r} is not one of --sizes {','.join(args.sizes)}")
    for name in args.only.split(",") + args.first_size_extra.split(","):
        if name and name not in known:
            parser.error(f"--only: unknown optimizer {name!r}; known: {', '.join(known)}")
    for key in ("rounds", "warmup", "compile_workers"):
        if getattr(args, key) < 1:
            parser.error(f"--{key.replace('_', '-')}: expected an integer >= 1, "
                         f"got {getattr(args, key)}")
    if args.dump_hlo and not args.out:
        parser.error("--dump-hlo needs --out")
    return args


def names_at(index, args):
    """The optimizers timed at the `index`-th size, each baseline first."""
    known = factories()
    names = [n for n in args.only.split(",") if n]
    if index == 0:
        names += [n for n in args.first_size_extra.split(",") if n and n not in names]
    for name in list(names):
        baseline = known[name][1]
        if baseline not in names:
            names.insert(0, baseline)
    return names


def _terminate(signum, frame):
    raise Interrupted(f"signal {signum}")


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    log(f"machine: {machine()}")
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    failed = False
    for index, size in enumerate(args.sizes):
        record = SizeRecord(size, args.out, args)
        try:
            measure_size(size, names_at(index, args), args, record)
        except BaseException as e:  # keep what was measured; an interrupt ends the run
            failed = True
            record.data["error"] = f"{type(e).__name__}: {str(e)[:2000]}"
            record.save()
            print_table(record.data)
            if isinstance(e, KeyboardInterrupt):
                log(f"{size}: interrupted ({e}); results so far are saved")
                break
            log(f"{size}: failed; results so far are saved")
            import traceback

            traceback.print_exc()
        else:
            print_table(record.data)
        keras.backend.clear_session()
        jax.clear_caches()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
