//! `channel_conv(kernel)`: the 1-D convolution across channels of efficient
//! channel attention (Wang et al. 2020, "ECA-Net"; timm's EcaModule). It reads
//! pooled channels `[N, C, 1, 1]` as a sequence of length C, slides one
//! `kernel`-tap filter along it with zero padding `(kernel - 1) / 2`, and
//! keeps the shape. Its weight is PyTorch's `Conv1d(1, 1, kernel, bias=False)`,
//! `[1, 1, kernel]`.
//!
//! Everything the compiler knows about the op is here: the IR, the
//! interpreter, the engine and the burn and ONNX backends call into it.

use proc_macro2::TokenStream;
use quote::quote;

use super::OpDef;
use super::dims::{CheckKind, DimAlgebra, Dims};
use crate::backend::burn::ops::Lit;
use crate::backend::burn::plan::OpKind;
use crate::backend::interp::{RunError, Tensor, Weights, per_sample};
use crate::backend::onnx::builder::{GraphParts, ints};
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::lower::{Kind, LowerNode, Lowering, WeightError};
use crate::ir::op::Op;
use crate::ir::op::{ShapeError, StateEntry, StateKind};
use crate::ir::shape::Shape;
use crate::ops::BurnForm;
use crate::sema::builtins::{ArgDefault, MAX, OpSig, p, range_err};
use crate::sema::value::Type;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelConv {
    pub channels: u64,
    /// Odd, so that the output keeps C channels.
    pub kernel: u64,
}

impl OpDef for ChannelConv {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn describe(&self) -> String {
        format!("channel_conv k{}", self.kernel)
    }

    /// The input must be pooled: `[N, C, 1, 1]` with this op's C.
    fn validate(&self, inputs: &[&Shape]) -> Result<(), ShapeError> {
        if inputs[0].rank() != 4 {
            return Err(ShapeError::NotPooled { op: Self::NAME, got: inputs[0].clone() });
        }
        Ok(())
    }

    fn dims<A: DimAlgebra>(&self, a: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        let pooled = a.is_pooled(&ins[0]);
        a.require(pooled, CheckKind::Pooled)?;
        a.want_channels(ins[0][1], self.channels)?;
        Ok(ins[0])
    }

    fn state(&self) -> Vec<StateEntry> {
        vec![StateEntry { suffix: "weight", shape: vec![1, 1, self.kernel], kind: StateKind::Param }]
    }

    /// A 1-D conv's count, as PyTorch's flop counter takes it: C outputs of
    /// `kernel` taps each.
    fn macs(&self, _: &Shape) -> u128 {
        self.channels as u128 * self.kernel as u128
    }

    fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError> {
        let weight = w.get("weight", self.kernel as usize)?;
        Ok(per_sample(ins[0], ins[0].shape.clone(), |s| self.reference(s, weight)))
    }

    fn to_onnx(&self, n: &mut OnnxNode<'_, '_>) -> Result<Lowered, OnnxError> {
        let (x, name) = (n.x(), n.name());
        let w = n.weight("weight", &[1, 1, self.kernel])?;
        Ok(Lowered::Value(self.onnx(n.parts(), &x, &w, &name)))
    }

    fn burn_form(&self) -> BurnForm {
        let facts = vec![("kernel", Lit::Usize(self.kernel)), ("pad", Lit::Usize(self.pad()))];
        BurnForm::Field { kind: OpKind::ChannelConv, ty: Self::burn_type(), facts }
    }

    fn emit_builder(&self, v: &dyn Fn(&str) -> TokenStream, lit: &dyn Fn(&str) -> Option<Lit>) -> TokenStream {
        let _ = lit;
        Self::burn_builder(&v("kernel"), &v("pad"))
    }

    fn emit_forward(&self, field: &TokenStream, x: &TokenStream) -> TokenStream {
        Self::burn_forward(field, x)
    }

    fn lower(&self, n: &mut LowerNode<'_, '_>) -> Result<Lowering, WeightError> {
        let weight = n.take_sized("weight", self.kernel as usize)?;
        Ok(Lowering::Step(n.step(Kind::ChannelConv { x: n.ins[0], op: *self, weight })))
    }

    fn attributes(&self) -> String {
        format!("channel_conv{{channels: {}, kernel: {}}}", self.channels, self.kernel)
    }
}

impl ChannelConv {
    pub const NAME: &'static str = "channel_conv";

    pub fn pad(&self) -> u64 {
        (self.kernel - 1) / 2
    }

    /// The reference: one sample's channels, sums in f64.
    pub fn reference(&self, x: &[f32], w: &[f32]) -> Vec<f32> {
        let (c, pad) = (x.len() as i64, self.pad() as i64);
        (0..c)
            .map(|o| {
                let mut sum = 0f64;
                for (j, &wj) in w.iter().enumerate() {
                    let i = o + j as i64 - pad;
                    if (0..c).contains(&i) {
                        sum += f64::from(wj) * f64::from(x[i as usize]);
                    }
                }
                sum as f32
            })
            .collect()
    }

    /// The engine's kernel, one sample: the taps that fall inside, in f32.
    pub fn run(&self, x: &[f32], w: &[f32], y: &mut [f32]) {
        let (c, pad) = (x.len(), self.pad() as usize);
        for (o, out) in y.iter_mut().enumerate().take(c) {
            // Taps j with 0 <= o + j - pad < c.
            let first = pad.saturating_sub(o);
            let last = (c + pad - o).min(w.len());
            let mut sum = 0f32;
            for j in first..last {
                sum += w[j] * x[o + j - pad];
            }
            *out = sum;
        }
    }

    /// The field: burn's `Conv1d` over `[N, 1, C]`.
    pub fn burn_type() -> TokenStream {
        quote! { Conv1d }
    }

    pub fn burn_builder(kernel: &TokenStream, pad: &TokenStream) -> TokenStream {
        quote! {
            Conv1dConfig::new(1, 1, #kernel)
                .with_padding(PaddingConfig1d::Explicit(#pad, #pad))
                .with_bias(false)
                .init(device)
        }
    }

    /// The field's forward: the pooled channels as a sequence and back.
    pub fn burn_forward(field: &TokenStream, x: &TokenStream) -> TokenStream {
        quote! {{
            let t = #x;
            let [n, c, h, w] = t.dims();
            #field.forward(t.reshape([n, 1, c * h * w])).reshape([n, c, h, w])
        }}
    }

    /// `Reshape` to `[N, 1, C]`, a 1-D `Conv`, `Reshape` back.
    pub fn onnx(&self, p: &mut GraphParts, x: &str, weight: &str, name: &str) -> String {
        let c = self.channels as i64;
        let seq_shape = p.constant_i64(&format!("{name}.seq_shape"), &[0, 1, c]);
        let seq = p.node("Reshape", &[x, &seq_shape], vec![], &format!("{name}.seq"));
        let pad = self.pad() as i64;
        let attrs = vec![ints("kernel_shape", &[self.kernel as i64]), ints("pads", &[pad, pad])];
        let y = p.node("Conv", &[&seq, weight], attrs, &format!("{name}.conv"));
        let back = p.constant_i64(&format!("{name}.shape"), &[0, c, 1, 1]);
        p.node("Reshape", &[&y, &back], vec![], name)
    }
}

pub fn builtin() -> OpSig {
    OpSig {
        name: ChannelConv::NAME,
        params: vec![p("kernel", Type::Int, ArgDefault::Required)],
        build: |a, input| {
            let kernel = a.int("kernel", 1, MAX)?;
            if kernel % 2 == 0 {
                let why = "odd, so that the output keeps its channels";
                return Err(range_err("kernel", "`channel_conv` kernel", why, kernel));
            }
            Ok(Op::ChannelConv(ChannelConv { channels: input.channels().unwrap_or(0), kernel }))
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worked by hand: x = [1, 2, 3, 4], w = [1, 10, 100], padding 1:
    /// y[o] = x[o-1] + 10 x[o] + 100 x[o+1].
    #[test]
    fn by_hand() {
        let op = ChannelConv { channels: 4, kernel: 3 };
        let (x, w) = ([1.0, 2.0, 3.0, 4.0], [1.0, 10.0, 100.0]);
        let want = [210.0, 321.0, 432.0, 43.0];
        assert_eq!(op.reference(&x, &w), want);
        let mut y = [0.0; 4];
        op.run(&x, &w, &mut y);
        assert_eq!(y, want);
    }

    /// The engine's clipped loops against the reference where the kernel is
    /// as long as the channels or longer.
    #[test]
    fn kernels_longer_than_the_channels() {
        for (c, k) in [(1, 3), (2, 5), (3, 7), (5, 5), (9, 3)] {
            let op = ChannelConv { channels: c, kernel: k };
            let x: Vec<f32> = (0..c).map(|i| i as f32 * 0.5 - 1.0).collect();
            let w: Vec<f32> = (0..k).map(|j| 1.0 + j as f32).collect();
            let mut y = vec![0.0; c as usize];
            op.run(&x, &w, &mut y);
            assert_eq!(y, op.reference(&x, &w), "C {c}, k {k}");
        }
    }
}
