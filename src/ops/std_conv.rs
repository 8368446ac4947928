//! `std_conv(..)`: a convolution with weight standardisation (Qiao et al.
//! 2019), as timm's `StdConv2d` in BiT: before each use, every output
//! channel's filter is shifted and scaled to zero mean and unit variance
//! (biased, over its inputs and taps), with `eps` inside the square root. It
//! is a `conv` in every other way (arguments, shape, state, MACs), so the IR
//! keeps it a `Conv2d` whose `standardize` holds the eps; this module holds
//! what the standardisation adds.

use std::borrow::Cow;
use std::collections::HashMap;

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use crate::ir::{Graph, Op};
use crate::sema::builtins::{ArgDefault, OpSig, p};
use crate::sema::value::Type;

pub const NAME: &str = "std_conv";

/// timm's `StdConv2d` default (BiT passes 1e-8).
pub const DEFAULT_EPS: f64 = 1e-6;

/// The reference: each of `out_channels` filters standardised, in f64.
pub fn reference(weight: &[f32], out_channels: usize, eps: f64) -> Vec<f32> {
    let per = weight.len() / out_channels.max(1);
    weight
        .chunks(per.max(1))
        .flat_map(|f| {
            let n = f.len() as f64;
            let mean = f.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            let var = f.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
            let inv = 1.0 / (var + eps).sqrt();
            f.iter().map(move |&v| ((f64::from(v) - mean) * inv) as f32)
        })
        .collect()
}

/// The engine's version (done once, when the weights are loaded): two passes
/// per filter, the variance from the shifted values, in f32 except the sums.
pub(crate) fn standardise(weight: &[f32], out_channels: usize, eps: f64) -> Vec<f32> {
    let mut out = weight.to_vec();
    let per = (weight.len() / out_channels.max(1)).max(1);
    for f in out.chunks_mut(per) {
        let mean = (f.iter().map(|&v| v as f64).sum::<f64>() / f.len() as f64) as f32;
        f.iter_mut().for_each(|v| *v -= mean);
        let var = f.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / f.len() as f64;
        let inv = (1.0 / (var + eps).sqrt()) as f32;
        f.iter_mut().for_each(|v| *v *= inv);
    }
    out
}

/// The weights with every standardised conv's filters replaced, for the
/// backends that run or export fixed weights (the engine, ONNX). Borrowed
/// unchanged when the model has no such conv; a weight of the wrong size is
/// left for the backend's own size check.
pub fn standardised<'w>(g: &Graph, weights: &'w HashMap<String, Vec<f32>>) -> Cow<'w, HashMap<String, Vec<f32>>> {
    let mut owned: Option<HashMap<String, Vec<f32>>> = None;
    for &ix in &g.order {
        let node = g.node(ix);
        let Op::Conv2d(c) = &node.op else { continue };
        let Some(eps) = c.standardize else { continue };
        let name = format!("{}.weight", node.name);
        let Some(w) = weights.get(&name) else { continue };
        let per = (c.in_channels / c.groups.max(1)) as usize * (c.kernel[0] * c.kernel[1]) as usize;
        if w.len() != per * c.out_channels as usize {
            continue;
        }
        let v = standardise(w, c.out_channels as usize, eps);
        owned.get_or_insert_with(|| weights.clone()).insert(name, v);
    }
    owned.map_or(Cow::Borrowed(weights), Cow::Owned)
}

/// burn: the field is a plain `Conv2d` (its weight loads unchanged); the
/// forward standardises through the support function below.
pub fn burn_forward(field: &TokenStream, x: &TokenStream, eps: f64) -> TokenStream {
    let eps = Literal::f64_unsuffixed(eps);
    quote! { std_conv(&#field, #x, #eps) }
}

/// In the support module generated models share. Training sees
/// the standardisation, so gradients flow through it as in timm.
pub fn burn_support() -> TokenStream {
    quote! {
        /// A conv with weight standardisation (timm's `StdConv2d`): each output
        /// channel's filter at zero mean and unit (biased) variance.
        pub fn std_conv(conv: &Conv2d, x: Tensor<4>, eps: f64) -> Tensor<4> {
            let w = conv.weight.val();
            let [o, i, kh, kw] = w.dims();
            let (var, mean) = w.reshape([o, i * kh * kw]).var_mean_bias(1);
            let w = conv.weight.val().reshape([o, i * kh * kw]);
            let w = ((w - mean) / (var + eps).sqrt()).reshape([o, i, kh, kw]);
            let padding = match conv.padding {
                PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
                _ => [(0, 0), (0, 0)],
            };
            let options =
                burn::tensor::ops::ConvOptions::new_with_padding(conv.stride, padding, conv.dilation, conv.groups);
            burn::tensor::module::conv2d(x, w, conv.bias.as_ref().map(|b| b.val()), options)
        }
    }
}

pub fn builtin() -> OpSig {
    let mut params = super::conv::params();
    params.push(p("eps", Type::Float, ArgDefault::Float(DEFAULT_EPS)));
    OpSig { name: NAME, params, build: |a, input| super::conv::build(a, input, Some(a.eps("eps")?)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worked by hand: filters [1, 3] and [2, 2]: the first has mean 2,
    /// variance 1, so it becomes [-1, 1] / sqrt(1 + eps); the second is
    /// constant and becomes zeros (eps keeps it from 0 / 0).
    #[test]
    fn by_hand() {
        let w = [1.0, 3.0, 2.0, 2.0];
        assert_eq!(reference(&w, 2, 1e-12), [-1.0, 1.0, 0.0, 0.0]);
        let eps = 1e-2;
        let s = (1.0 / (1.0f64 + eps).sqrt()) as f32;
        assert_eq!(reference(&w, 2, eps), [-s, s, 0.0, 0.0]);
        assert_eq!(standardise(&w, 2, eps), [-s, s, 0.0, 0.0]);
    }

    #[test]
    fn engine_matches_reference() {
        let w: Vec<f32> = (0..6 * 27).map(|i| ((i * 53 % 97) as f32 - 48.0) * 1e-3 + 0.01).collect();
        for eps in [1e-8, 1e-6, 1e-2] {
            crate::testing::assert_close("std_conv", &standardise(&w, 6, eps), &reference(&w, 6, eps), 1e-6);
        }
    }
}
