"""Breaks the engine on purpose, one mutation at a time, and checks that the
numeric tests notice: each mutant must make at least one test fail.

Run by hand from the repository root (each mutant rebuilds and runs the
library unit tests and the engine and interpreter tests, a minute or two
each):
    python3 tests/engine_mutants.py [NAME...]
Every file is restored afterwards, also when interrupted.
"""
import pathlib
import re
import subprocess
import sys

# name: (file, the exact text, its broken replacement, what it breaks)
MUTANTS = {
    "leaky_relu_sign": (
        "src/engine/jit.rs",
        "select_where(fb, ty, FloatCC::GreaterThan, x, h.zero, x, neg)",
        "select_where(fb, ty, FloatCC::LessThan, x, h.zero, x, neg)",
        "the compiled leaky ReLU keeps the negative side and scales the positive",
    ),
    "silu_sign": (
        "src/engine/unary.rs",
        "Activation::Silu => each(x, y, |v| v * sigmoid(v)),",
        "Activation::Silu => each(x, y, |v| v * sigmoid(-v)),",
        "SiLU as x * sigmoid(-x)",
    ),
    "bn_shift_sign": (
        "src/engine/lower.rs",
        ".map(|((b, m), s)| b - m * s)",
        ".map(|((b, m), s)| b + m * s)",
        "batch norm's shift with the running mean's sign flipped",
    ),
    "bn_fold_conv_bias": (
        "src/engine/lower.rs",
        "*v += cx.store[*b][o] * scale[o];",
        "*v += cx.store[*b][o];",
        "folding a batch norm into a conv with a bias leaves the bias unscaled",
    ),
    "conv_weight_transposed": (
        "src/engine/lower.rs",
        """            Op::Conv2d(c) => {
                let weight = cx.take(ix, "weight")?;""",
        """            Op::Conv2d(c) => {
                let mut weight = cx.take(ix, "weight")?;
                let k = c.kernel[0] as usize;
                if c.kernel[0] == c.kernel[1] {
                    for block in weight.chunks_mut(k * k) {
                        for a in 0..k {
                            for b in 0..a {
                                block.swap(a * k + b, b * k + a);
                            }
                        }
                    }
                }""",
        "every square conv kernel transposed (rows for columns)",
    ),
    "avgpool_counts_padding": (
        "src/engine/exec.rs",
        "count_include_pad",
        "ceil_mode",
        "average pooling divides by the padded window when it should not (and the other way round)",
    ),
    "winograd_input_sign": (
        "src/engine/winograd.rs",
        "        y[3][l] = x1[l] - x3[l];",
        "        y[3][l] = x1[l] + x3[l];",
        "Winograd's input transform with one of Bᵀ's signs flipped",
    ),
    "winograd4_input_coefficient": (
        "src/engine/winograd.rs",
        "        y[5][l] = 4.0 * x1[l] - 5.0 * x3[l] + x5[l];",
        "        y[5][l] = 4.0 * x1[l] - 4.0 * x3[l] + x5[l];",
        "F(4x4, 3x3)'s input transform with one of Bᵀ's coefficients wrong",
    ),
    "winograd4_output_last_row": (
        "src/engine/winograd.rs",
        "        y[3][l] = b + 8.0 * d + m5[l];",
        "        y[3][l] = b + 8.0 * d;",
        "F(4x4, 3x3)'s output transform drops Aᵀ's last column",
    ),
    "direct_stride2_columns": (
        "src/engine/direct.rs",
        "let col = |kx: usize| if stride == 2 { (kx % 2) * half + kx / 2 } else { kx };",
        "let col = |kx: usize| if stride == 2 { ((kx + 1) % 2) * half + kx / 2 } else { kx };",
        "the direct kernel reads a stride-2 tap's odd columns for its even ones and the other way round",
    ),
    "max_pool_last_tap": (
        "src/engine/exec.rs",
        "        for kx in 0..kw {\n            let up",
        "        for kx in 0..kw - 1 {\n            let up",
        "max pooling forgets each window's last column",
    ),
    "lane_reads_first_samples": (
        "src/engine/lanes.rs",
        "let from = (self.first + s) * view.len;",
        "let from = s * view.len;",
        "every lane of a split batch runs the batch's first samples",
    ),
    "over_batch_scatter_sample": (
        "src/engine/over_batch.rs",
        "row.copy_from_slice(&wide[o * ld + s * n..o * ld + (s + 1) * n]);",
        "row.copy_from_slice(&wide[o * ld..o * ld + n]);",
        "every sample of a conv run over the batch gets the first sample's output",
    ),
    "over_batch_im2col_stride": (
        "src/engine/over_batch.rs",
        "_ => exec::im2col(xs, (c, h, w), conv, at, (oh, ow), ld),",
        "_ => exec::im2col(xs, (c, h, w), conv, at, (oh, ow), n),",
        "im2col over the batch writes its rows one sample wide",
    ),
    "max_pool_odd_tail": (
        "src/engine/exec.rs",
        "            even[pairs] = cols[2 * pairs];\n",
        "",
        "max pooling at stride 2 drops an odd-width row's last column",
    ),
}

TESTS = ["--lib", "--test", "engine", "--test", "interp"]


def run(name):
    path, old, new, what = MUTANTS[name]
    p = pathlib.Path(path)
    text = p.read_text()
    if text.count(old) < 1:
        sys.exit(f"{name}: the text to mutate is gone from {path}; update the mutant")
    p.write_text(text.replace(old, new, 1 if name != "avgpool_counts_padding" else -1))
    try:
        out = subprocess.run(["cargo", "test", *TESTS], capture_output=True, text=True)
    finally:
        p.write_text(text)
    failed = sorted(set(re.findall(r"^test (\S+) \.\.\. FAILED", out.stdout, re.M)))
    if out.returncode != 0 and not failed:
        return what, ["(did not build)"]
    return what, failed


def main():
    names = sys.argv[1:] or list(MUTANTS)
    survivors = []
    for name in names:
        what, failed = run(name)
        print(f"{name}: {what}\n  caught by: {', '.join(failed) if failed else 'NOTHING'}", flush=True)
        if not failed:
            survivors.append(name)
    if survivors:
        sys.exit(f"mutants the tests did not catch: {', '.join(survivors)}")


main()
