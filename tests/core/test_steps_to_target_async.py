"""`StepsToTarget` lets Keras dispatch steps without waiting for the device, and measures the same.

On the JAX backend Keras calls `on_train_batch_end` on worker threads when every callback is
`async_safe` (no device sync per step); with any other per-batch callback it calls it on the thread
that runs `fit`, after turning the logs into Python numbers. The same runs under both must give the
same measurement rows, outcome and steps to target, across epochs, budgets, gradient accumulation and
divergence; deciding at the start of the next step costs `fit` exactly one extra update. TensorFlow's
Keras never dispatches callbacks asynchronously, so this runs in a JAX subprocess.
"""

from helpers import run_python

CHECKS = r"""
import sys, threading
import keras
assert keras.backend.backend() == "jax"
sys.path.insert(0, "tests/core")
from test_steps_to_target import data, model
from tfbsz.study.callbacks import StepsToTarget

x, y = data(160)

class ForcesSync(keras.callbacks.Callback):  # a per-batch hook: Keras syncs and calls every hook in line
    def on_train_batch_end(self, batch, logs=None):
        pass

class Recorded(StepsToTarget):  # notes the threads its on_train_batch_end ran on
    def on_train_batch_end(self, batch, logs=None):
        self.threads.add(threading.get_ident())
        super().on_train_batch_end(batch, logs)

def run(sync, lr=0.5, accumulation=None, data=(x, y), epochs=40, **kwargs):
    m = model(lr, accumulation)
    stt = Recorded(data, throughput=lambda examples_per_s: {"train/examples_per_s": examples_per_s}, **kwargs)
    stt.threads = set()
    m.fit(*data, batch_size=16, epochs=epochs, shuffle=False, verbose=0,
          callbacks=[stt, ForcesSync()] if sync else [stt])
    in_line = stt.threads == {threading.get_ident()}
    assert in_line == sync, (sync, len(stt.threads))
    return stt, int(m.optimizer.iterations)

def same(a, b, name):
    assert (a.outcome, a.steps_to_target, a.best_value) == (b.outcome, b.steps_to_target, b.best_value), name
    assert [m["step"] for m in a.measurements] == [m["step"] for m in b.measurements], name
    for ra, rb in zip(a.measurements, b.measurements):
        assert ra.keys() == rb.keys() and "train/examples_per_s" in ra, (name, ra.keys() ^ rb.keys())
        for key in ra:
            if key not in ("wall_time_s", "train/examples_per_s"):
                assert ra[key] == rb[key] or (ra[key] != ra[key] and rb[key] != rb[key]), (
                    name, ra["step"], key, ra[key], rb[key])  # equal, or both NaN

cases = {
    # 10 batches an epoch: evaluations fall inside epochs and on their ends
    "reached": dict(target_metric="val/classification_error", threshold=0.06, eval_every=3, max_steps=400,
                    batch_size=16, lr=0.02),
    "missed": dict(target_metric="val/accuracy", threshold=0.999, eval_every=5, max_steps=23, batch_size=16,
                   lr=0.01),
    "data_runs_out": dict(target_metric="val/accuracy", threshold=0.999, eval_every=6, batch_size=16, lr=0.01,
                          epochs=2),
    "accumulation": dict(target_metric="val/accuracy", threshold=0.999, eval_every=2, max_steps=7, batch_size=64,
                         accumulation_steps=4, accumulation=4, lr=0.05),
    "diverged": dict(target_metric="val/cross_entropy_error", threshold=0.01, eval_every=3, max_steps=50,
                     batch_size=16, lr=1e10, data=(x * 1e30, y)),
}
for name, kwargs in cases.items():
    (a, updates_a), (b, updates_b) = run(False, **kwargs), run(True, **kwargs)
    same(a, b, name)
    print(name, a.outcome, [m["step"] for m in a.measurements], updates_a, updates_b)
    # In line, fit stops right after the deciding step; dispatched, it has been handed the next
    # micro-batch already unless the decision came at an epoch's end (10 micro-batches an epoch).
    accumulation = kwargs.get("accumulation", 1)
    last = a.measurements[-1]["step"]
    extra = (last * accumulation) % 10 != 0 and accumulation == 1
    assert (updates_a, updates_b) == (last + extra, last), (name, updates_a, updates_b, last)
assert run(False, **cases["reached"])[0].outcome == "reached"
print("OK")
"""


def test_async_dispatch_measures_what_the_synchronous_path_measures():
    proc = run_python(CHECKS, backend="jax", timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("OK"), proc.stdout
