"""Where a jitted step's time goes: a JAX profiler trace of a few calls, summed by kernel and by kind.

`profile_steps(run, steps, log_dir)` traces `run(steps)` with `jax.profiler.trace` and returns a
summary dict read from the trace (`jax.profiler.ProfileData`), no TensorBoard needed:

* `device_ms_per_step`: GPU kernel time per step, summed over streams (`busy_ms_per_step`:
  the union of kernel intervals, i.e. time at least one kernel ran);
* `categories`: that time by kind of kernel (matmul, attention, elementwise/reduction fusions,
  copies and transposes, collectives, ...), from the kernel names;
* `top_kernels` and `top_ops`: the biggest kernels by name, and by XLA op (the profiler's "XLA Ops"
  line), in ms per step with call counts.

On a machine without a GPU the host's XLA thunks are summarised instead (CPU check runs).
`format_summary` prints it as a table. Used by bench/transformer_mfu.py.
"""

import glob
import os
import re
import shutil

CATEGORIES = (
    ("attention (flash / cuDNN)", r"fmha|flash|sdpa|cudnn"),
    ("matmul", r"gemm|cublas|cutlass|xmma|nvjet|matmul|\bdot|_dot|wgmma|ynn"),
    ("collective", r"nccl|all[-_]?reduce|all[-_]?gather|reduce[-_]?scatter|collective"),
    ("scatter / gather", r"scatter|gather|dynamic[-_]update|dynamic[-_]slice"),
    ("copy / transpose", r"copy|transpose|memcpy|memset|concatenate|pad"),
    ("reduction fusion", r"reduce|reduction|softmax|norm"),
    ("elementwise fusion", r"fusion|loop|convert|add|multiply|select|wrapped"),
)
SKIP_LINES = ("XLA Modules", "Steps", "Launch Stats", "XLA TraceMe", "Source", "python", "TFRT")


def categorize(name):
    low = name.lower()
    for category, pattern in CATEGORIES:
        if re.search(pattern, low):
            return category
    return "other"


def _device_planes(data):
    planes = [p for p in data.planes if p.name.startswith("/device:") and "CPU" not in p.name.upper()]
    if planes:
        return planes, "device"
    return [p for p in data.planes if p.name.startswith("/host:CPU")], "host"


def _union_ns(intervals):
    total, end = 0.0, None
    for start, stop in sorted(intervals):
        if end is None or start > end:
            total += stop - start
            end = stop
        elif stop > end:
            total += stop - end
            end = stop
    return total


def summarize(xplane_path, steps, top=40):
    """The summary dict of an `.xplane.pb` file holding `steps` traced steps."""
    from jax.profiler import ProfileData

    data = ProfileData.from_file(xplane_path)
    planes, where = _device_planes(data)
    kernels, ops, intervals = {}, {}, []
    for plane in planes:
        for line in plane.lines:
            if any(line.name.startswith(s) for s in SKIP_LINES):
                continue
            into = ops if line.name == "XLA Ops" else kernels
            for event in line.events:
                name = event.name
                if where == "host" and (name.startswith("ThreadpoolListener") or name.startswith("end: ")
                                        or name.startswith("ThunkExecutor")):
                    continue
                duration = float(event.duration_ns)
                total, calls = into.get(name, (0.0, 0))
                into[name] = (total + duration, calls + 1)
                if into is kernels:
                    intervals.append((float(event.start_ns), float(event.start_ns) + duration))
    per_step = 1e-6 / max(steps, 1)
    categories = {}
    for name, (ns, _) in kernels.items():
        key = categorize(name)
        categories[key] = categories.get(key, 0.0) + ns * per_step

    def ranked(table):
        rows = sorted(table.items(), key=lambda kv: -kv[1][0])[:top]
        return [{"name": n[:160], "ms_per_step": ns * per_step, "calls_per_step": c / max(steps, 1),
                 "category": categorize(n)} for n, (ns, c) in rows]

    return {
        "source": where,
        "planes": [p.name for p in planes],
        "steps": steps,
        "kernels_per_step": sum(c for _, c in kernels.values()) / max(steps, 1),
        "device_ms_per_step": sum(ns for ns, _ in kernels.values()) * per_step,
        "busy_ms_per_step": _union_ns(intervals) * per_step,
        "categories": dict(sorted(categories.items(), key=lambda kv: -kv[1])),
        "top_kernels": ranked(kernels),
        "top_ops": ranked(ops),
    }


def profile_steps(run, steps, log_dir, keep_trace_as=None):
    """Traces `run(steps)` into `log_dir` and returns `summarize(...)` of it.

    `keep_trace_as`: copy the trace's `.trace.json.gz` (Perfetto/TensorBoard viewable) to this path.
    """
    import jax

    shutil.rmtree(log_dir, ignore_errors=True)
    with jax.profiler.trace(log_dir):
        run(steps)
    xplanes = glob.glob(os.path.join(log_dir, "plugins", "profile", "*", "*.xplane.pb"))
    if not xplanes:
        raise RuntimeError(f"jax.profiler wrote no .xplane.pb under {log_dir}")
    summary = summarize(max(xplanes, key=os.path.getmtime), steps)
    if keep_trace_as:
        traces = glob.glob(os.path.join(log_dir, "plugins", "profile", "*", "*.trace.json.gz"))
        if traces:
            shutil.copyfile(max(traces, key=os.path.getmtime), keep_trace_as)
            summary["trace_file"] = os.path.basename(keep_trace_as)
    return summary


def format_summary(title, summary, step_ms=None, top=25):
    """A plain-text table of a summary (`step_ms`: the measured step time, to show idle time)."""
    lines = [f"== {title}: {summary['source']} {', '.join(summary['planes'])}; "
             f"{summary['kernels_per_step']:.0f} kernels/step, kernel time {summary['device_ms_per_step']:.2f} ms/step "
             f"(busy {summary['busy_ms_per_step']:.2f})"
             + (f" of {step_ms:.2f} ms measured" if step_ms else "")]
    for category, ms in summary["categories"].items():
        share = ms / summary["device_ms_per_step"] if summary["device_ms_per_step"] else 0.0
        lines.append(f"   {category:<28s} {ms:9.3f} ms/step  {100 * share:5.1f}%")
    for label, rows in (("kernels", summary["top_kernels"]), ("XLA ops", summary["top_ops"])):
        if not rows:
            continue
        lines.append(f"   top {label}:")
        for row in rows[:top]:
            lines.append(f"   {row['ms_per_step']:9.3f} ms  x{row['calls_per_step']:<5.0f} {row['category']:<26s} "
                         f"{row['name'][:110]}")
    return "\n".join(lines)
