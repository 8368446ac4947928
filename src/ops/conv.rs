//! `conv(out, kernel, stride, padding, dilation, groups, bias)`: PyTorch's
//! `Conv2d`. `std_conv` is the same op with standardised filters (its own
//! file adds what that changes).

use super::dims::{CheckKind, DimAlgebra, Dims, Window};
use super::{OpDef, largest_divisor_at_most, want_maps};
use crate::backend::burn::ops::Lit;
use crate::backend::burn::plan::OpKind;
use crate::backend::interp::{RunError, Tensor, Weights};
use crate::backend::onnx::builder::{int, ints};
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::lower::{ConvForm, Epilogue, Kind, LowerNode, Lowering, WeightError};
use crate::ir::op::Op;
use crate::ir::op::{ShapeError, StateEntry, StateKind};
use crate::ir::shape::Shape;
use crate::ops::BurnForm;
use crate::sema::builtins::{ArgDefault::*, ArgError, Args, MAX, OpSig, p};
use crate::sema::value::Type;
use proc_macro2::TokenStream;
use quote::quote;

#[derive(Clone, Debug, PartialEq)]
pub struct Conv2d {
    pub in_channels: u64,
    pub out_channels: u64,
    pub kernel: [u64; 2],
    pub stride: [u64; 2],
    pub padding: [u64; 2],
    pub dilation: [u64; 2],
    pub groups: u64,
    pub bias: bool,
    /// `std_conv`: the filters are standardised before use, with this eps.
    pub standardize: Option<f64>,
}

impl Conv2d {
    pub fn window(&self, axis: usize) -> Window {
        Window {
            kernel: self.kernel[axis],
            stride: self.stride[axis],
            pad: self.padding[axis],
            dilation: self.dilation[axis],
            ceil: false,
        }
    }
}

/// `3` for a square pair, `3x5` otherwise.
pub(crate) fn pair(v: [u64; 2]) -> String {
    if v[0] == v[1] { format!("{}", v[0]) } else { format!("{}x{}", v[0], v[1]) }
}

/// "window of 7", "window of 3 dilated to 5", and why it does not fit.
pub(crate) fn too_large(w: &Window, x: &Shape, axis: usize) -> ShapeError {
    let window = if w.extent() == w.kernel as i64 {
        format!("window of {}", w.kernel)
    } else {
        format!("window of {} dilated to {}", w.kernel, w.extent())
    };
    let padded = x.size(axis).unwrap_or(0) + 2 * w.pad;
    ShapeError::KernelTooLarge { window, padded, axis: if axis == 2 { "height" } else { "width" } }
}

impl OpDef for Conv2d {
    fn name(&self) -> &'static str {
        if self.standardize.is_some() { super::std_conv::NAME } else { "conv" }
    }

    fn describe(&self) -> String {
        let mut s = format!("{} {}x{}", self.name(), self.kernel[0], self.kernel[1]);
        if self.stride != [1, 1] {
            s += &format!("/{}", pair(self.stride));
        }
        s += &format!(" {}", self.out_channels);
        if self.groups > 1 {
            s += &format!(" g{}", self.groups);
        }
        if self.dilation != [1, 1] {
            s += &format!(" d{}", pair(self.dilation));
        }
        s
    }

    fn validate(&self, inputs: &[&Shape]) -> Result<(), ShapeError> {
        want_maps("conv", inputs)?;
        for (which, ch) in [("input", self.in_channels), ("output", self.out_channels)] {
            if ch % self.groups != 0 {
                let suggestion = largest_divisor_at_most(ch, self.groups);
                return Err(ShapeError::Groups { groups: self.groups, which, channels: ch, suggestion });
            }
        }
        Ok(())
    }

    fn dims<A: DimAlgebra>(&self, a: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        let [n, c, h, w] = ins[0];
        a.want_channels(c, self.in_channels)?;
        let (wh, ww) = (self.window(0), self.window(1));
        a.want_min_size(&ins[0], wh.need(), ww.need())?;
        let (oh, ow) = (wh.output(a, h), ww.output(a, w));
        Ok([n, a.k(self.out_channels as i64), oh, ow])
    }

    fn explain(&self, fail: CheckKind, inputs: &[&Shape]) -> ShapeError {
        match fail {
            CheckKind::MinSize { need_h, .. } => {
                let axis = if (inputs[0].size(2).unwrap_or(0) as i64) < need_h { 2 } else { 3 };
                too_large(&self.window(axis - 2), inputs[0], axis)
            }
            fail => super::explain("conv", fail, inputs),
        }
    }

    fn state(&self) -> Vec<StateEntry> {
        let p = |suffix, shape| StateEntry { suffix, shape, kind: StateKind::Param };
        let mut v =
            vec![p("weight", vec![self.out_channels, self.in_channels / self.groups, self.kernel[0], self.kernel[1]])];
        if self.bias {
            v.push(p("bias", vec![self.out_channels]));
        }
        v
    }

    fn macs(&self, out: &Shape) -> u128 {
        let per_output = (self.in_channels / self.groups) as u128 * self.kernel[0] as u128 * self.kernel[1] as u128;
        out.per_item() * per_output
    }

    fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError> {
        let per = (self.in_channels / self.groups) as usize * (self.kernel[0] * self.kernel[1]) as usize;
        let weight = w.get("weight", self.out_channels as usize * per)?;
        let bias = if self.bias { Some(w.get("bias", self.out_channels as usize)?) } else { None };
        Ok(match self.standardize {
            Some(eps) => {
                conv2d(ins[0], self, &super::std_conv::reference(weight, self.out_channels as usize, eps), bias)
            }
            None => conv2d(ins[0], self, weight, bias),
        })
    }

    fn to_onnx(&self, n: &mut OnnxNode<'_, '_>) -> Result<Lowered, OnnxError> {
        let name = n.name();
        let dims = [self.out_channels, self.in_channels / self.groups, self.kernel[0], self.kernel[1]];
        let mut ins = vec![n.x()];
        if let Some(f) = n.folded_conv() {
            let w = format!("{name}.weight");
            if !n.parts().claim(&w) || !n.parts().claim(&f.bias_name) {
                return Err(OnnxError::DuplicateName { name: w });
            }
            n.parts().initializer(&w, &dims, &f.weight);
            n.parts().initializer(&f.bias_name, &[self.out_channels], &f.bias);
            ins.extend([w, f.bias_name]);
        } else {
            ins.push(n.weight("weight", &dims)?);
            if self.bias {
                ins.push(n.weight("bias", &[self.out_channels])?);
            }
        }
        let [ph, pw] = self.padding.map(|v| v as i64);
        let attrs = vec![
            ints("kernel_shape", &self.kernel.map(|v| v as i64)),
            ints("strides", &self.stride.map(|v| v as i64)),
            ints("pads", &[ph, pw, ph, pw]),
            ints("dilations", &self.dilation.map(|v| v as i64)),
            int("group", self.groups as i64),
        ];
        let ins: Vec<&str> = ins.iter().map(String::as_str).collect();
        Ok(Lowered::Value(n.parts().node("Conv", &ins, attrs, &name)))
    }

    fn burn_form(&self) -> BurnForm {
        use Lit::*;
        let facts = vec![
            ("in", Usize(self.in_channels)),
            ("out", Usize(self.out_channels)),
            ("kh", Usize(self.kernel[0])),
            ("kw", Usize(self.kernel[1])),
            ("sh", Usize(self.stride[0])),
            ("sw", Usize(self.stride[1])),
            ("ph", Usize(self.padding[0])),
            ("pw", Usize(self.padding[1])),
            ("dh", Usize(self.dilation[0])),
            ("dw", Usize(self.dilation[1])),
            ("groups", Usize(self.groups)),
            ("bias", Bool(self.bias)),
        ];
        let kind = self.standardize.map_or(OpKind::Conv, |eps| OpKind::StdConv(eps.to_bits()));
        BurnForm::Field { kind, ty: quote! { Conv2d }, facts }
    }

    fn emit_builder(&self, v: &dyn Fn(&str) -> TokenStream, lit: &dyn Fn(&str) -> Option<Lit>) -> TokenStream {
        let is = |name: &str, want: Lit| lit(name) == Some(want);
        let (cin, cout, kh, kw) = (v("in"), v("out"), v("kh"), v("kw"));
        let mut b = quote! { Conv2dConfig::new([#cin, #cout], [#kh, #kw]) };
        if !(is("sh", Lit::Usize(1)) && is("sw", Lit::Usize(1))) {
            let (sh, sw) = (v("sh"), v("sw"));
            b = quote! { #b.with_stride([#sh, #sw]) };
        }
        if let Some(p) = burn_padding(v, lit) {
            b = quote! { #b.with_padding(#p) };
        }
        if !(is("dh", Lit::Usize(1)) && is("dw", Lit::Usize(1))) {
            let (dh, dw) = (v("dh"), v("dw"));
            b = quote! { #b.with_dilation([#dh, #dw]) };
        }
        if !is("groups", Lit::Usize(1)) {
            let g = v("groups");
            b = quote! { #b.with_groups(#g) };
        }
        if !is("bias", Lit::Bool(true)) {
            let bias = v("bias");
            b = quote! { #b.with_bias(#bias) };
        }
        quote! { #b.init(device) }
    }

    fn emit_forward(&self, field: &TokenStream, x: &TokenStream) -> TokenStream {
        match self.standardize {
            Some(eps) => super::std_conv::burn_forward(field, x, eps),
            None => quote! { #field.forward(#x) },
        }
    }

    fn lower(&self, n: &mut LowerNode<'_, '_>) -> Result<Lowering, WeightError> {
        let mut weight = n.take("weight")?;
        if let Some(eps) = self.standardize {
            weight = super::std_conv::standardise(&weight, self.out_channels as usize, eps);
        }
        let weight = n.keep(weight);
        let mut s = n.step(Kind::Conv { x: n.ins[0], conv: self.clone(), weight, form: ConvForm::Gemm });
        if self.bias {
            let b = n.take_kept("bias")?;
            s.epilogue = Some(Epilogue::bias(b));
        }
        Ok(Lowering::Step(s))
    }

    fn attributes(&self) -> String {
        format!(
            "{}{{in: {}, out: {}, kernel: {}, stride: {}, pad: {}, dilation: {}, groups: {}, bias: {}{}}}",
            self.name(),
            self.in_channels,
            self.out_channels,
            pair(self.kernel),
            pair(self.stride),
            pair(self.padding),
            pair(self.dilation),
            self.groups,
            self.bias,
            self.standardize.map_or(String::new(), |eps| format!(", eps: {eps}"))
        )
    }

    fn burn_support(&self) -> Option<&'static str> {
        self.standardize.map(|_| super::std_conv::NAME)
    }
}

/// `conv`'s parameters; `std_conv` adds its eps.
pub(crate) fn params() -> Vec<crate::sema::builtins::ParamSpec> {
    vec![
        p("channels", Type::Int, Required),
        p("kernel", Type::Pair, Required),
        p("stride", Type::Pair, Int(1)),
        p("pad", Type::Pair, Int(0)),
        p("dilation", Type::Pair, Int(1)),
        p("groups", Type::Int, Int(1)),
        p("bias", Type::Bool, Bool(false)),
    ]
}

/// The conv the arguments describe, standardised or not.
pub(crate) fn build(a: &Args<'_>, input: &Shape, standardize: Option<f64>) -> Result<Op, ArgError> {
    Ok(Op::Conv2d(Conv2d {
        in_channels: input.channels().unwrap_or(0),
        out_channels: a.int("channels", 1, MAX)?,
        kernel: a.pair("kernel", 1)?,
        stride: a.pair("stride", 1)?,
        padding: a.pair("pad", 0)?,
        dilation: a.pair("dilation", 1)?,
        groups: a.int("groups", 1, MAX)?,
        bias: a.bool("bias"),
        standardize,
    }))
}

pub fn builtin() -> OpSig {
    OpSig { name: "conv", params: params(), build: |a, input| build(a, input, None) }
}

/// burn's explicit padding, or `None` where it is zero in every instance.
pub(crate) fn burn_padding(v: &dyn Fn(&str) -> TokenStream, lit: &dyn Fn(&str) -> Option<Lit>) -> Option<TokenStream> {
    if lit("ph") == Some(Lit::Usize(0)) && lit("pw") == Some(Lit::Usize(0)) {
        return None;
    }
    let (ph, pw) = (v("ph"), v("pw"));
    Some(quote! { PaddingConfig2d::Explicit(#ph, #pw, #ph, #pw) })
}

/// The reference convolution: direct, from the definition.
fn conv2d(x: &Tensor, c: &Conv2d, weight: &[f32], bias: Option<&[f32]>) -> Tensor {
    let (n, cin, h, w) = x.nchw();
    let (cout, g) = (c.out_channels as usize, c.groups as usize);
    let [kh, kw] = c.kernel.map(|v| v as usize);
    let [sh, sw] = c.stride.map(|v| v as usize);
    let [ph, pw] = c.padding.map(|v| v as usize);
    let [dh, dw] = c.dilation.map(|v| v as usize);
    let oh = (h + 2 * ph - dh * (kh - 1) - 1) / sh + 1;
    let ow = (w + 2 * pw - dw * (kw - 1) - 1) / sw + 1;
    let (cin_g, cout_g) = (cin / g, cout / g);
    let mut out = Tensor::zeros(vec![n, cout, oh, ow]);
    for s in 0..n {
        for o in 0..cout {
            let group = o / cout_g;
            for y in 0..oh {
                for xo in 0..ow {
                    let mut acc = bias.map_or(0.0, |b| b[o]);
                    for ci in 0..cin_g {
                        let ic = group * cin_g + ci;
                        for ky in 0..kh {
                            let iy = (y * sh + ky * dh) as isize - ph as isize;
                            if iy < 0 || iy >= h as isize {
                                continue;
                            }
                            for kx in 0..kw {
                                let ix = (xo * sw + kx * dw) as isize - pw as isize;
                                if ix < 0 || ix >= w as isize {
                                    continue;
                                }
                                let xv = x.data[((s * cin + ic) * h + iy as usize) * w + ix as usize];
                                acc += xv * weight[((o * cin_g + ci) * kh + ky) * kw + kx];
                            }
                        }
                    }
                    out.data[((s * cout + o) * oh + y) * ow + xo] = acc;
                }
            }
        }
    }
    out
}
