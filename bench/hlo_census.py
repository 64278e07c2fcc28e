"""What an XLA program does with layouts: batch-axis reductions before compilation, copies after.

Two readings of HLO text (bench scripts and the layout test only):

* `layout_hazards(hlo)`: in HLO *before* optimisation (`jax.jit(f).lower(...).as_text("hlo")`),
  the reductions whose result has rank >= 2 and that do not reduce the operand's last axes. XLA's
  GPU layout assignment gives the operand of such a reduction a layout in which the reduced axes
  vary fastest (a "row reduction") and propagates it through element-wise ops to everything that
  shares the operand's layout. A train step whose position-embedding gradient was a sum over the
  batch of `[batch, seq, d_model]` got its whole residual stream laid out `[seq, d_model, batch]`
  that way, with two transposes around every LayerNorm (docs/benchmarks.md, "Transformer MFU").
  CPUs do not relayout reductions, so this is the check that can run without a GPU.
* `copy_census(hlo)`: in *compiled* HLO (`lowered.compile().as_text()`), how many instructions of
  the entry computation are transposes or copies (fusions named after a transpose or copy, and
  plain `transpose` / `copy` ops), by the name XLA gave them; on a GPU each is a kernel that only
  moves bytes.

>>> text = '''ENTRY main {
...   x.1 = f32[4,8,16]{2,1,0} parameter(0)
...   c.1 = f32[] constant(0)
...   rows.1 = f32[4,8]{1,0} reduce(x.1, c.1), dimensions={2}, to_apply=add
...   batch.1 = f32[8,16]{1,0} reduce(x.1, c.1), dimensions={0}, to_apply=add
... }'''
>>> [(h.name, h.operand_shape, h.dimensions) for h in layout_hazards(text)]
[('batch.1', (4, 8, 16), (0,))]
>>> copy_census("ENTRY e {\\n  %input_transpose_fusion.3 = f32[2,3]{1,0} fusion(%a), kind=kInput\\n}")
{'transpose': 1, 'copy': 0}
"""

import re
from dataclasses import dataclass

__all__ = ["Hazard", "layout_hazards", "copy_census"]

_INSTRUCTION = re.compile(
    r"^\s*(?:ROOT\s+)?%?(?P<name>[\w.\-]+)\s*=\s*(?P<type>\w+)\[(?P<dims>[\d,]*)\]\S*\s+"
    r"(?P<op>[\w\-]+)\((?P<operands>[^)]*)\)(?P<rest>.*)$"
)


@dataclass(frozen=True)
class Hazard:
    """A reduction that XLA's GPU layout assignment relayouts its operand for."""

    name: str
    operand: str
    operand_shape: tuple
    dimensions: tuple
    result_shape: tuple


def _shape(dims):
    return tuple(int(d) for d in dims.split(",") if d)


def _entry(hlo):
    lines = hlo.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("ENTRY"):
            return lines[i + 1:]
    return lines


def layout_hazards(hlo):
    """The reductions in `hlo` (unoptimised HLO text, every computation) with a result of rank >= 2
    that keep some axis of size > 1 after (minor to) an axis of size > 1 that they reduce."""
    shapes, hazards = {}, []
    for line in hlo.splitlines():
        match = _INSTRUCTION.match(line)
        if not match:
            continue
        name, dims = match["name"], _shape(match["dims"])
        shapes[name] = dims
        if match["op"] != "reduce" or len(dims) < 2:
            continue
        reduced = re.search(r"dimensions=\{([\d,]*)\}", match["rest"])
        operand = next((t for t in re.findall(r"%?([\w.\-]+)", match["operands"]) if t in shapes), None)
        if reduced is None or operand is None:
            continue
        shape = shapes[operand]
        axes = tuple(a for a in _shape(reduced[1]) if shape[a] > 1)
        kept = [a for a in range(len(shape)) if a not in axes and shape[a] > 1]
        if axes and kept and max(kept) > min(axes):
            hazards.append(Hazard(name, operand, shape, axes, dims))
    return hazards


def copy_census(hlo):
    """`{"transpose": n, "copy": m}`: instructions of `hlo`'s entry computation (compiled HLO text)
    that transpose or copy, counted by the names XLA gives them."""
    counts = {"transpose": 0, "copy": 0}
    for line in _entry(hlo):
        match = _INSTRUCTION.match(line)
        if not match:
            continue
        name, op = match["name"], match["op"]
        if "transpose" in name or op == "transpose":
            counts["transpose"] += 1
        elif op == "copy" or name.startswith(("copy_fusion", "input_copy", "loop_copy")):
            counts["copy"] += 1
    return counts
