//! Fused elementwise kernels: what a kernel computes, described as a list of
//! stages, and a plain-Rust reference that defines it. The JIT compiles the
//! same description to vector code (`jit::compile_kernel`).
//!
//! A kernel walks `channels` planes of `plane_len` values each. Stages run in
//! order on every value; each stage that needs data takes the next operand:
//! a per-channel vector (`[channels]`) or a tensor shaped like the output.

/// One step of a fused elementwise chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    /// `x * scale[c] + shift[c]`: an unfolded batch norm. Two per-channel operands.
    Affine,
    /// `x + shift[c]`: a conv or linear bias, or a batch norm folded into the conv.
    Bias,
    /// `x * s[c]`: ResNeSt's attention weights, one per channel and sample.
    ScaleChannel,
    /// `x + t[i]`: a residual (or any) addition of a same-shaped tensor.
    AddTensor,
    /// `x * t[i]`: an elementwise product with a same-shaped tensor.
    MulTensor,
    /// `x * k`, k as f32 bits: drop-path's test-time scale.
    MulConst(u32),
    Relu,
    Relu6,
    /// Negative slope as f32 bits.
    LeakyRelu(u32),
}

/// What an operand of a stage is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperandKind {
    PerChannel,
    Tensor,
}

impl Stage {
    pub fn operands(self) -> &'static [OperandKind] {
        use OperandKind::*;
        match self {
            Stage::Affine => &[PerChannel, PerChannel],
            Stage::Bias | Stage::ScaleChannel => &[PerChannel],
            Stage::AddTensor | Stage::MulTensor => &[Tensor],
            Stage::MulConst(_) | Stage::Relu | Stage::Relu6 | Stage::LeakyRelu(_) => &[],
        }
    }

    /// The scalar meaning of the stage, given its operand values.
    fn apply(self, x: f32, ops: &[f32]) -> f32 {
        match self {
            // Fused multiply-add, one rounding, as the compiled kernel does.
            Stage::Affine => x.mul_add(ops[0], ops[1]),
            Stage::Bias => x + ops[0],
            Stage::ScaleChannel | Stage::MulTensor => x * ops[0],
            Stage::AddTensor => x + ops[0],
            Stage::MulConst(k) => x * f32::from_bits(k),
            // Compare and select, as the compiled kernel does: NaN stays NaN.
            Stage::Relu => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            }
            Stage::Relu6 => {
                let y = if x < 0.0 { 0.0 } else { x };
                if 6.0 < y { 6.0 } else { y }
            }
            Stage::LeakyRelu(s) => {
                if x > 0.0 {
                    x
                } else {
                    x * f32::from_bits(s)
                }
            }
        }
    }
}

/// A fused kernel: its stages in order. Equal specs share one compiled function.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct KernelSpec {
    pub stages: Vec<Stage>,
}

impl KernelSpec {
    pub fn operand_kinds(&self) -> Vec<OperandKind> {
        self.stages.iter().flat_map(|s| s.operands().iter().copied()).collect()
    }

    /// A short name for profiles and benchmarks: `bias+add+relu`.
    pub fn describe(&self) -> String {
        let names: Vec<&str> = self
            .stages
            .iter()
            .map(|s| match s {
                Stage::Affine => "affine",
                Stage::Bias => "bias",
                Stage::ScaleChannel => "scale_c",
                Stage::AddTensor => "add",
                Stage::MulTensor => "mul",
                Stage::MulConst(_) => "scale",
                Stage::Relu => "relu",
                Stage::Relu6 => "relu6",
                Stage::LeakyRelu(_) => "leaky_relu",
            })
            .collect();
        if names.is_empty() { "copy".into() } else { names.join("+") }
    }
}

/// The reference: `dst[i] = stages(src[i])` over `channels * plane_len`
/// values; `src` `None` means in place.
pub fn reference(
    spec: &KernelSpec,
    dst: &mut [f32],
    src: Option<&[f32]>,
    operands: &[&[f32]],
    channels: usize,
    plane_len: usize,
) {
    let kinds = spec.operand_kinds();
    let mut vals = vec![0.0f32; kinds.len()];
    for c in 0..channels {
        for j in 0..plane_len {
            let i = c * plane_len + j;
            let mut x = src.map_or(dst[i], |s| s[i]);
            let mut k = 0;
            for stage in &spec.stages {
                let n = stage.operands().len();
                for (slot, kind) in kinds[k..k + n].iter().enumerate() {
                    vals[k + slot] = match kind {
                        OperandKind::PerChannel => operands[k + slot][c],
                        OperandKind::Tensor => operands[k + slot][i],
                    };
                }
                x = stage.apply(x, &vals[k..k + n]);
                k += n;
            }
            dst[i] = x;
        }
    }
}
