//! `blur_pool(stride, size)`: anti-aliased downsampling (Zhang 2019, "Making
//! Convolutional Networks Shift-Invariant Again"), as timm's `BlurPool2d`:
//! reflect padding, then a fixed binomial `size` x `size` filter applied to
//! each channel with the stride. The filter is a non-persistent buffer in
//! timm, so the op has no state; it counts as the depthwise conv it is.
//!
//! Everything the compiler knows about the op is here: the IR, the
//! interpreter, the engine and the burn and ONNX backends call into it.

use proc_macro2::TokenStream;
use quote::quote;

use super::OpDef;
use super::dims::{CheckKind, DimAlgebra, Dims};
use crate::backend::burn::ops::Lit;
use crate::backend::interp::{RunError, Tensor, Weights, per_plane};
use crate::backend::onnx::builder::{GraphParts, int, ints, string};
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::lower::{Kind, LowerNode, Lowering, WeightError};
use crate::ir::op::Op;
use crate::ir::op::{ShapeError, want_rank};
use crate::ir::shape::Shape;
use crate::ops::BurnForm;
use crate::sema::builtins::{ArgDefault::*, MAX, OpSig, p};
use crate::sema::value::Type;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlurPool {
    pub channels: u64,
    pub stride: u64,
    /// Taps per side, at least 2.
    pub size: u64,
}

impl OpDef for BlurPool {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn describe(&self) -> String {
        format!("blur_pool {}x{}/{}", self.size, self.size, self.stride)
    }

    fn validate(&self, inputs: &[&Shape]) -> Result<(), ShapeError> {
        want_rank(Self::NAME, inputs[0], 4)
    }

    fn dims<A: DimAlgebra>(&self, a: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        let [n, c, h, w] = ins[0];
        a.want_channels(c, self.channels)?;
        let need = self.min_side() as i64;
        a.want_min_size(&ins[0], need, need)?;
        let mut side = |len| {
            let span = a.add_k(len, 2 * self.pad() as i64 - self.size as i64);
            let steps = a.div(span, self.stride.max(1) as i64);
            a.add_k(steps, 1)
        };
        Ok([n, c, side(h), side(w)])
    }

    fn explain(&self, fail: CheckKind, inputs: &[&Shape]) -> ShapeError {
        let x = inputs[0];
        match fail {
            CheckKind::MinSize { need_h, .. } => {
                let (got, axis) = match x.size(2).unwrap_or(0) {
                    h if (h as i64) < need_h => (h, "height"),
                    _ => (x.size(3).unwrap_or(0), "width"),
                };
                ShapeError::ReflectPad { op: Self::NAME, pad: self.pad(), need: self.min_side(), got, axis }
            }
            fail => super::explain(Self::NAME, fail, inputs),
        }
    }

    /// As PyTorch's flop counter takes the depthwise conv: `size^2` per output.
    fn macs(&self, out: &Shape) -> u128 {
        out.per_item() * (self.size * self.size) as u128
    }

    fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError> {
        let _ = w;
        Ok(per_plane(ins[0], |h, w| (self.out_side(h), self.out_side(w)), |x, h, w| self.reference(x, h, w)))
    }

    fn to_onnx(&self, n: &mut OnnxNode<'_, '_>) -> Result<Lowered, OnnxError> {
        let (x, name) = (n.x(), n.name());
        Ok(Lowered::Value(self.onnx(n.parts(), &x, &name)))
    }

    fn burn_form(&self) -> BurnForm {
        BurnForm::Inline { consts: vec![("stride", Lit::Usize(self.stride)), ("size", Lit::Usize(self.size))] }
    }

    fn emit_inline(&self, args: &[TokenStream], c: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        Self::burn(&args[0], &c("stride"), &c("size"))
    }

    fn lower(&self, n: &mut LowerNode<'_, '_>) -> Result<Lowering, WeightError> {
        Ok(Lowering::Step(n.step(Kind::BlurPool { x: n.ins[0], op: *self })))
    }

    fn attributes(&self) -> String {
        format!("blur_pool{{channels: {}, stride: {}, size: {}}}", self.channels, self.stride, self.size)
    }

    fn burn_support(&self) -> Option<&'static str> {
        Some(Self::NAME)
    }
}

impl BlurPool {
    pub const NAME: &'static str = "blur_pool";

    /// timm's `get_padding(size, stride)`, on every side.
    pub fn pad(&self) -> u64 {
        (self.stride - 1 + self.size - 1) / 2
    }

    /// The binomial row `C(size - 1, k) / 2^(size - 1)`; the filter is its
    /// outer product with itself.
    pub fn taps(&self) -> Vec<f64> {
        let n = self.size - 1;
        let mut row = vec![1f64];
        for k in 1..=n {
            let prev = row[k as usize - 1];
            row.push(prev * (n - k + 1) as f64 / k as f64);
        }
        let scale = 2f64.powi(n as i32);
        row.iter().map(|c| c / scale).collect()
    }

    /// Reflect padding needs each side longer than the padding, and the
    /// padded side at least as long as the filter.
    pub fn min_side(&self) -> u64 {
        (self.pad() + 1).max(self.size.saturating_sub(2 * self.pad()))
    }

    pub fn out_side(&self, len: usize) -> usize {
        (len + 2 * self.pad() as usize - self.size as usize) / self.stride as usize + 1
    }

    /// The reference, one `h` x `w` plane: the 2-D filter over the reflected
    /// input, sums in f64.
    pub fn reference(&self, x: &[f32], h: usize, w: usize) -> Vec<f32> {
        let taps = self.taps();
        let (pad, s) = (self.pad() as i64, self.stride as usize);
        let (oh, ow) = (self.out_side(h), self.out_side(w));
        let mut y = Vec::with_capacity(oh * ow);
        for r in 0..oh {
            for c in 0..ow {
                let mut sum = 0f64;
                for (i, ti) in taps.iter().enumerate() {
                    for (j, tj) in taps.iter().enumerate() {
                        let row = reflect((r * s) as i64 + i as i64 - pad, h);
                        let col = reflect((c * s) as i64 + j as i64 - pad, w);
                        sum += ti * tj * f64::from(x[row * w + col]);
                    }
                }
                y.push(sum as f32);
            }
        }
        y
    }

    /// The engine's kernel, one plane: the filter is separable, so a pass
    /// along each row's strided outputs, then one down the columns, in f32.
    pub fn run(&self, x: &[f32], h: usize, w: usize, y: &mut [f32]) {
        let taps: Vec<f32> = self.taps().iter().map(|&t| t as f32).collect();
        let (pad, s) = (self.pad() as i64, self.stride as usize);
        let (oh, ow) = (self.out_side(h), self.out_side(w));
        let cols: Vec<Vec<usize>> =
            (0..ow).map(|c| (0..taps.len()).map(|j| reflect((c * s + j) as i64 - pad, w)).collect()).collect();
        // Rows blurred across, only the rows some output reads.
        let mut across = vec![0f32; h * ow];
        for (row, out) in x.chunks(w).zip(across.chunks_mut(ow)) {
            for (o, at) in out.iter_mut().zip(&cols) {
                *o = at.iter().zip(&taps).map(|(&i, t)| row[i] * t).sum();
            }
        }
        for r in 0..oh {
            let out = &mut y[r * ow..(r + 1) * ow];
            out.fill(0.0);
            for (i, t) in taps.iter().enumerate() {
                let src = reflect((r * s + i) as i64 - pad, h);
                for (o, v) in out.iter_mut().zip(&across[src * ow..(src + 1) * ow]) {
                    *o += v * t;
                }
            }
        }
    }

    /// burn: a call of the support function below; `stride` and `size` are
    /// tokens (literals, or fields where instances differ).
    pub fn burn(x: &TokenStream, stride: &TokenStream, size: &TokenStream) -> TokenStream {
        quote! { blur_pool(#x, #stride, #size) }
    }

    /// In the support module generated models share: reflect padding and a depthwise
    /// `conv2d` with the binomial filter made in place (a constant, not a
    /// parameter, as timm's non-persistent buffer).
    pub fn burn_support() -> TokenStream {
        quote! {
            /// Anti-aliased downsampling (timm's `BlurPool2d`): a binomial
            /// `size` x `size` blur of each channel over reflect padding, strided.
            pub fn blur_pool(x: Tensor<4>, stride: usize, size: usize) -> Tensor<4> {
                let channels = x.dims()[1];
                let pad = (stride - 1 + size - 1) / 2;
                // C(size - 1, k) / 2^(size - 1): sums to one.
                let mut row = vec![1f32; size];
                for k in 1..size {
                    row[k] = row[k - 1] * (size - k) as f32 / k as f32;
                }
                let scale = 2f32.powi(size as i32 - 1);
                let row = Tensor::<1>::from_floats(row.as_slice(), &x.device()) / scale;
                let filter = row.clone().reshape([size, 1]) * row.reshape([1, size]);
                let filter = filter.reshape([1, 1, size, size]).repeat_dim(0, channels);
                let options = burn::tensor::ops::ConvOptions::new([stride, stride], [0, 0], [1, 1], channels);
                let padded = x.pad((pad, pad, pad, pad), burn::tensor::ops::PadMode::Reflect);
                burn::tensor::module::conv2d(padded, filter, None, options)
            }
        }
    }

    /// ONNX: `Pad` in reflect mode, then a depthwise `Conv` with the filter
    /// as an initializer.
    pub fn onnx(&self, p: &mut GraphParts, x: &str, name: &str) -> String {
        let a = self.pad() as i64;
        let pads = p.constant_i64(&format!("{name}.pads"), &[0, 0, a, a, 0, 0, a, a]);
        let mode = string("mode", "reflect");
        let padded = p.node("Pad", &[x, &pads], vec![mode], &format!("{name}.padded"));
        let taps = self.taps();
        let plane: Vec<f32> = taps.iter().flat_map(|ti| taps.iter().map(move |tj| (ti * tj) as f32)).collect();
        let filter: Vec<f32> = (0..self.channels).flat_map(|_| plane.iter().copied()).collect();
        let w = format!("{name}.filter");
        p.initializer(&w, &[self.channels, 1, self.size, self.size], &filter);
        let k = self.size as i64;
        let s = self.stride as i64;
        let attrs = vec![ints("kernel_shape", &[k, k]), ints("strides", &[s, s]), int("group", self.channels as i64)];
        p.node("Conv", &[&padded, &w], attrs, name)
    }
}

/// PyTorch's reflect padding: index -1 reads 1, index n reads n - 2.
fn reflect(i: i64, n: usize) -> usize {
    let n = n as i64;
    let i = if i < 0 { -i } else { i };
    (if i >= n { 2 * (n - 1) - i } else { i }) as usize
}

pub fn builtin() -> OpSig {
    OpSig {
        name: BlurPool::NAME,
        params: vec![p("stride", Type::Int, Int(2)), p("size", Type::Int, Int(3))],
        build: |a, input| {
            let size = a.int("size", 2, 16)?;
            let channels = input.channels().unwrap_or(0);
            Ok(Op::BlurPool(BlurPool { channels, stride: a.int("stride", 1, MAX)?, size }))
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_are_timms_binomials() {
        let op = |size| BlurPool { channels: 1, stride: 2, size };
        assert_eq!(op(3).taps(), [0.25, 0.5, 0.25]);
        assert_eq!(op(5).taps(), [1. / 16., 4. / 16., 6. / 16., 4. / 16., 1. / 16.]);
        assert_eq!(op(2).taps(), [0.5, 0.5]);
        assert_eq!((op(3).pad(), op(5).pad(), BlurPool { channels: 1, stride: 1, size: 3 }.pad()), (1, 2, 1));
    }

    /// Worked by hand: a 3x3 plane, stride 2, reflected by one. The output's
    /// corner (0, 0) sees rows (1, 0, 1) and columns (1, 0, 1).
    #[test]
    fn by_hand() {
        let op = BlurPool { channels: 1, stride: 2, size: 3 };
        let x = [0., 0., 0., 0., 16., 0., 0., 0., 0.];
        // The centre value reaches the corners' outputs through the
        // reflection with weight 0.5 x 0.5 on each side.
        let want = [4., 4., 4., 4.];
        assert_eq!(op.reference(&x, 3, 3), want);
        let mut y = [0.0; 4];
        op.run(&x, 3, 3, &mut y);
        assert_eq!(y, want);
    }

    #[test]
    fn engine_matches_reference() {
        for (h, w, stride, size) in [(2, 2, 2, 3), (5, 4, 2, 3), (7, 9, 2, 5), (6, 6, 1, 3), (3, 8, 3, 4)] {
            let op = BlurPool { channels: 1, stride, size };
            let x: Vec<f32> = (0..h * w).map(|i| ((i * 37 % 11) as f32) - 5.0).collect();
            let want = op.reference(&x, h, w);
            let mut y = vec![0.0; op.out_side(h) * op.out_side(w)];
            op.run(&x, h, w, &mut y);
            crate::testing::assert_close("blur", &y, &want, 1e-6);
        }
    }
}
