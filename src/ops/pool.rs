//! `maxpool(kernel, stride, padding, ceil_mode)` and `avgpool(..,
//! count_include_pad)`: PyTorch's `MaxPool2d` and `AvgPool2d`.

use super::conv::{pair, too_large};
use super::dims::{CheckKind, DimAlgebra, Dims, Window};
use super::{OpDef, want_maps};
use crate::backend::burn::ops::Lit;
use crate::backend::burn::plan::OpKind;
use crate::backend::interp::{RunError, Tensor, Weights};
use crate::backend::onnx::builder::{GraphParts, int, ints};
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::lower::{Kind, LowerNode, Lowering, WeightError};
use crate::ir::op::Op;
use crate::ir::op::ShapeError;
use crate::ir::shape::Shape;
use crate::ops::BurnForm;
use crate::sema::builtins::{ArgDefault::*, ArgError, Args, OpSig, p};
use crate::sema::value::Type;
use proc_macro2::TokenStream;
use quote::quote;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    Avg,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    pub kind: PoolKind,
    pub kernel: [u64; 2],
    pub stride: [u64; 2],
    pub padding: [u64; 2],
    pub ceil_mode: bool,
    pub count_include_pad: bool,
}

impl Pool {
    pub fn window(&self, axis: usize) -> Window {
        Window {
            kernel: self.kernel[axis],
            stride: self.stride[axis],
            pad: self.padding[axis],
            dilation: 1,
            ceil: self.ceil_mode,
        }
    }
}

impl OpDef for Pool {
    fn name(&self) -> &'static str {
        match self.kind {
            PoolKind::Max => "maxpool",
            PoolKind::Avg => "avgpool",
        }
    }

    fn describe(&self) -> String {
        let mut s = format!("{} {}x{}", self.name(), self.kernel[0], self.kernel[1]);
        if self.stride != [1, 1] {
            s += &format!("/{}", pair(self.stride));
        }
        s
    }

    fn validate(&self, inputs: &[&Shape]) -> Result<(), ShapeError> {
        want_maps(self.name(), inputs)?;
        for i in 0..2 {
            if 2 * self.padding[i] > self.kernel[i] {
                return Err(ShapeError::PadTooLarge { pad: self.padding[i], kernel: self.kernel[i] });
            }
        }
        Ok(())
    }

    fn dims<A: DimAlgebra>(&self, a: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        let [n, c, h, w] = ins[0];
        let (wh, ww) = (self.window(0), self.window(1));
        a.want_min_size(&ins[0], wh.need(), ww.need())?;
        let (oh, ow) = (wh.output(a, h), ww.output(a, w));
        Ok([n, c, oh, ow])
    }

    fn explain(&self, fail: CheckKind, inputs: &[&Shape]) -> ShapeError {
        match fail {
            CheckKind::MinSize { need_h, .. } => {
                let axis = if (inputs[0].size(2).unwrap_or(0) as i64) < need_h { 2 } else { 3 };
                too_large(&self.window(axis - 2), inputs[0], axis)
            }
            fail => super::explain(self.name(), fail, inputs),
        }
    }

    fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError> {
        let _ = w;
        Ok(pool(ins[0], self))
    }

    fn to_onnx(&self, n: &mut OnnxNode<'_, '_>) -> Result<Lowered, OnnxError> {
        let (x, name) = (n.x(), n.name());
        let (input, output) = (n.input_shape(0).clone(), n.shape().clone());
        Ok(Lowered::Value(onnx(n.parts(), self, &x, &input, &output, &name)))
    }

    fn burn_form(&self) -> BurnForm {
        use Lit::*;
        let facts = vec![
            ("kh", Usize(self.kernel[0])),
            ("kw", Usize(self.kernel[1])),
            ("sh", Usize(self.stride[0])),
            ("sw", Usize(self.stride[1])),
            ("ph", Usize(self.padding[0])),
            ("pw", Usize(self.padding[1])),
            ("ceil", Bool(self.ceil_mode)),
            ("count_pad", Bool(self.count_include_pad)),
        ];
        match self.kind {
            PoolKind::Max => BurnForm::Field { kind: OpKind::MaxPool, ty: quote! { MaxPool2d }, facts },
            PoolKind::Avg => BurnForm::Field { kind: OpKind::AvgPool, ty: quote! { AvgPool2d }, facts },
        }
    }

    fn emit_builder(&self, v: &dyn Fn(&str) -> TokenStream, lit: &dyn Fn(&str) -> Option<Lit>) -> TokenStream {
        let is = |name: &str, want: Lit| lit(name) == Some(want);
        let (kh, kw, sh, sw) = (v("kh"), v("kw"), v("sh"), v("sw"));
        let mut b = match self.kind {
            PoolKind::Max => quote! { MaxPool2dConfig::new([#kh, #kw]) },
            PoolKind::Avg => quote! { AvgPool2dConfig::new([#kh, #kw]) },
        };
        b = quote! { #b.with_strides([#sh, #sw]) };
        if let Some(p) = super::conv::burn_padding(v, lit) {
            b = quote! { #b.with_padding(#p) };
        }
        if !is("ceil", Lit::Bool(false)) {
            let c = v("ceil");
            b = quote! { #b.with_ceil_mode(#c) };
        }
        if self.kind == PoolKind::Avg && !is("count_pad", Lit::Bool(true)) {
            let c = v("count_pad");
            b = quote! { #b.with_count_include_pad(#c) };
        }
        quote! { #b.init() }
    }

    fn lower(&self, n: &mut LowerNode<'_, '_>) -> Result<Lowering, WeightError> {
        Ok(Lowering::Step(n.step(Kind::Pool { x: n.ins[0], pool: self.clone() })))
    }

    fn attributes(&self) -> String {
        let count_pad =
            if self.kind == PoolKind::Avg { format!(", count_pad: {}", self.count_include_pad) } else { String::new() };
        format!(
            "{}{{kernel: {}, stride: {}, pad: {}, ceil: {}{count_pad}}}",
            self.name(),
            pair(self.kernel),
            pair(self.stride),
            pair(self.padding),
            self.ceil_mode
        )
    }
}

fn build(a: &Args<'_>, kind: PoolKind) -> Result<Op, ArgError> {
    Ok(Op::Pool(Pool {
        kind,
        kernel: a.pair("kernel", 1)?,
        stride: a.pair("stride", 1)?,
        padding: a.pair("pad", 0)?,
        ceil_mode: a.bool("ceil"),
        count_include_pad: a.bool("count_pad"),
    }))
}

pub fn builtin(kind: PoolKind) -> OpSig {
    let params = vec![
        p("kernel", Type::Pair, Required),
        p("stride", Type::Pair, SameAsKernel),
        p("pad", Type::Pair, Int(0)),
        p("ceil", Type::Bool, Bool(false)),
        p("count_pad", Type::Bool, Bool(true)),
    ];
    match kind {
        PoolKind::Max => OpSig { name: "maxpool", params, build: |a, _| build(a, PoolKind::Max) },
        PoolKind::Avg => OpSig { name: "avgpool", params, build: |a, _| build(a, PoolKind::Avg) },
    }
}

/// The reference pooling, from the definition.
fn pool(x: &Tensor, p: &Pool) -> Tensor {
    let (n, c, h, w) = x.nchw();
    let out_len = |len: usize, k: usize, s: usize, pad: usize| {
        let span = len + 2 * pad - k;
        let mut o = if p.ceil_mode { span.div_ceil(s) } else { span / s } + 1;
        if p.ceil_mode && (o - 1) * s >= len + pad {
            o -= 1;
        }
        o
    };
    let [kh, kw] = p.kernel.map(|v| v as usize);
    let [sh, sw] = p.stride.map(|v| v as usize);
    let [ph, pw] = p.padding.map(|v| v as usize);
    let (oh, ow) = (out_len(h, kh, sh, ph), out_len(w, kw, sw, pw));
    let mut out = Tensor::zeros(vec![n, c, oh, ow]);
    for plane in 0..n * c {
        for y in 0..oh {
            for xo in 0..ow {
                let (y0, x0) = ((y * sh) as isize - ph as isize, (xo * sw) as isize - pw as isize);
                let mut best = f32::NEG_INFINITY;
                let (mut sum, mut count, mut padded_count) = (0.0f32, 0usize, 0usize);
                for ky in 0..kh as isize {
                    for kx in 0..kw as isize {
                        let (iy, ix) = (y0 + ky, x0 + kx);
                        // Windows are clipped to the padded input, as PyTorch counts them.
                        if iy < (h + ph) as isize && ix < (w + pw) as isize {
                            padded_count += 1;
                        }
                        if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                            continue;
                        }
                        let v = x.data[(plane * h + iy as usize) * w + ix as usize];
                        // NaN wins, as in PyTorch (`f32::max` would drop it).
                        if v.is_nan() || (!best.is_nan() && v > best) {
                            best = v;
                        }
                        sum += v;
                        count += 1;
                    }
                }
                out.data[(plane * oh + y) * ow + xo] = match p.kind {
                    PoolKind::Max => best,
                    PoolKind::Avg if p.count_include_pad => sum / padded_count as f32,
                    PoolKind::Avg => sum / count.max(1) as f32,
                };
            }
        }
    }
    out
}

/// Pools with the output size PyTorch gives: ONNX's `ceil_mode` keeps a last
/// window that starts in the padding where PyTorch drops it, so the end
/// padding is written out instead, and `count_include_pad` becomes a real
/// zero `Pad` (PyTorch counts the padding but not what lies past it).
fn onnx(p: &mut GraphParts, pool: &Pool, x: &str, input: &Shape, output: &Shape, name: &str) -> String {
    let size = |s: &Shape, i: usize| s.size(i).unwrap_or(1) as i64;
    let [kh, kw] = pool.kernel.map(|v| v as i64);
    let [sh, sw] = pool.stride.map(|v| v as i64);
    let [mut ph, mut pw] = pool.padding.map(|v| v as i64);
    let (mut h, mut w) = (size(input, 2), size(input, 3));
    let mut x = x.to_string();
    if pool.kind == PoolKind::Avg && pool.count_include_pad && (ph > 0 || pw > 0) {
        let pads = p.constant_i64(&format!("{name}.pads"), &[0, 0, ph, pw, 0, 0, ph, pw]);
        x = p.node("Pad", &[&x, &pads], vec![], &format!("{name}.padded"));
        (h, w) = (h + 2 * ph, w + 2 * pw);
        (ph, pw) = (0, 0);
    }
    // The end padding that makes exactly PyTorch's output size without ceil_mode.
    let end = |out: i64, k: i64, s: i64, len: i64, begin: i64| ((out - 1) * s + k - len - begin).max(0);
    let (eh, ew) = (end(size(output, 2), kh, sh, h, ph), end(size(output, 3), kw, sw, w, pw));
    let mut attrs = vec![ints("kernel_shape", &[kh, kw]), ints("strides", &[sh, sw]), ints("pads", &[ph, pw, eh, ew])];
    let op = match pool.kind {
        PoolKind::Max => "MaxPool",
        PoolKind::Avg => {
            attrs.push(int("count_include_pad", 0));
            "AveragePool"
        }
    };
    p.node(op, &[&x], attrs, name)
}
