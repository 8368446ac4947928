//! One codegen unit per op: the burn builder of a module field, and the
//! inline tensor code of a stateless op.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use super::plan::OpKind;
use crate::ir::op::{AttentionPool, BlurPool, ChannelConv, LayerNorm, Op, Pad2d, RadixSoftmax, SplitSum};
use crate::ir::op::{BatchNorm, Dropout, GroupNorm, Linear, PadChannels, Slice, Subsample};
use crate::ops::std_conv;

/// A construction value of a generated module.
#[derive(Clone, Debug)]
pub enum Lit {
    Usize(u64),
    F64(f64),
    Bool(bool),
    /// Built code: the blocks of a stage whose length differs between instances.
    Code {
        tokens: TokenStream,
        ty: TokenStream,
    },
}

impl PartialEq for Lit {
    fn eq(&self, other: &Lit) -> bool {
        self.key() == other.key()
    }
}

impl Lit {
    pub fn tokens(&self) -> TokenStream {
        match self {
            Lit::Usize(v) => {
                let l = Literal::u64_unsuffixed(*v);
                quote! { #l }
            }
            Lit::F64(v) => {
                let l = Literal::f64_unsuffixed(*v);
                quote! { #l }
            }
            Lit::Bool(b) => quote! { #b },
            Lit::Code { tokens, .. } => tokens.clone(),
        }
    }

    pub fn rust_type(&self) -> TokenStream {
        match self {
            Lit::Usize(_) => quote! { usize },
            Lit::F64(_) => quote! { f64 },
            Lit::Bool(_) => quote! { bool },
            Lit::Code { ty, .. } => ty.clone(),
        }
    }

    pub fn key(&self) -> String {
        match self {
            Lit::Usize(v) => format!("u{v}"),
            Lit::F64(v) => format!("f{v:e}"),
            Lit::Bool(b) => format!("b{b}"),
            Lit::Code { tokens, .. } => format!("c{tokens}"),
        }
    }
}

/// The values a module field is built from, named.
pub fn builder_facts(op: &Op) -> Vec<(&'static str, Lit)> {
    use Lit::*;
    match op {
        Op::Conv2d(c) => vec![
            ("in", Usize(c.in_channels)),
            ("out", Usize(c.out_channels)),
            ("kh", Usize(c.kernel[0])),
            ("kw", Usize(c.kernel[1])),
            ("sh", Usize(c.stride[0])),
            ("sw", Usize(c.stride[1])),
            ("ph", Usize(c.padding[0])),
            ("pw", Usize(c.padding[1])),
            ("dh", Usize(c.dilation[0])),
            ("dw", Usize(c.dilation[1])),
            ("groups", Usize(c.groups)),
            ("bias", Bool(c.bias)),
        ],
        Op::BatchNorm(BatchNorm { channels, eps }) => vec![("channels", Usize(*channels)), ("eps", F64(*eps))],
        Op::GroupNorm(GroupNorm { channels, groups, eps }) => {
            vec![("groups", Usize(*groups)), ("channels", Usize(*channels)), ("eps", F64(*eps))]
        }
        Op::Linear(Linear { in_features, out_features, bias }) => {
            vec![("in", Usize(*in_features)), ("out", Usize(*out_features)), ("bias", Bool(*bias))]
        }
        Op::ChannelConv(c) => vec![("kernel", Usize(c.kernel)), ("pad", Usize(c.pad()))],
        Op::LayerNorm(l) => vec![("channels", Usize(l.channels)), ("eps", F64(l.eps))],
        Op::AttentionPool(a) => vec![("channels", Usize(a.channels))],
        Op::Pool(p) => vec![
            ("kh", Usize(p.kernel[0])),
            ("kw", Usize(p.kernel[1])),
            ("sh", Usize(p.stride[0])),
            ("sw", Usize(p.stride[1])),
            ("ph", Usize(p.padding[0])),
            ("pw", Usize(p.padding[1])),
            ("ceil", Bool(p.ceil_mode)),
            ("count_pad", Bool(p.count_include_pad)),
        ],
        Op::Dropout(Dropout { p }) => vec![("p", F64(*p))],
        Op::DropPath(d) => vec![
            ("survival", F64(d.survival)),
            ("scale_at_test", Bool(d.scale_at_test)),
            ("per_sample", Bool(d.per_sample)),
        ],
        _ => Vec::new(),
    }
}

/// The forward call of a module field: `field.forward(x)`, or the op's own
/// (a channel conv reads its input as a sequence).
pub fn field_forward(op: &Op, field: &TokenStream, x: &TokenStream) -> TokenStream {
    match op {
        Op::ChannelConv(_) => ChannelConv::burn_forward(field, x),
        Op::LayerNorm(_) => LayerNorm::burn_forward(field, x),
        Op::AttentionPool(_) => AttentionPool::burn_forward(field, x),
        Op::Conv2d(c) if let Some(eps) = c.standardize => std_conv::burn_forward(field, x, eps),
        _ => quote! { #field.forward(#x) },
    }
}

/// `Conv2dConfig::new(..)..init(device)` and the like. `v` gives the tokens of
/// each fact (a literal or an `init` argument); `lit` its value where it is a
/// literal, so defaults can be left out.
pub fn builder(kind: OpKind, v: &dyn Fn(&str) -> TokenStream, lit: &dyn Fn(&str) -> Option<Lit>) -> TokenStream {
    let is = |name: &str, want: Lit| lit(name) == Some(want);
    let pad = |v: &dyn Fn(&str) -> TokenStream| {
        let (ph, pw) = (v("ph"), v("pw"));
        quote! { PaddingConfig2d::Explicit(#ph, #pw, #ph, #pw) }
    };
    let zero_pad = is("ph", Lit::Usize(0)) && is("pw", Lit::Usize(0));
    match kind {
        OpKind::Conv | OpKind::StdConv(_) => {
            let (cin, cout, kh, kw) = (v("in"), v("out"), v("kh"), v("kw"));
            let mut b = quote! { Conv2dConfig::new([#cin, #cout], [#kh, #kw]) };
            if !(is("sh", Lit::Usize(1)) && is("sw", Lit::Usize(1))) {
                let (sh, sw) = (v("sh"), v("sw"));
                b = quote! { #b.with_stride([#sh, #sw]) };
            }
            if !zero_pad {
                let p = pad(v);
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
        OpKind::Bn => {
            let c = v("channels");
            let mut b = quote! { BatchNormConfig::new(#c) };
            if !is("eps", Lit::F64(1e-5)) {
                let e = v("eps");
                b = quote! { #b.with_epsilon(#e) };
            }
            quote! { #b.init(device) }
        }
        OpKind::GroupNorm => {
            let (g, c) = (v("groups"), v("channels"));
            let mut b = quote! { GroupNormConfig::new(#g, #c) };
            if !is("eps", Lit::F64(1e-5)) {
                let e = v("eps");
                b = quote! { #b.with_epsilon(#e) };
            }
            quote! { #b.init(device) }
        }
        OpKind::ChannelConv => ChannelConv::burn_builder(&v("kernel"), &v("pad")),
        OpKind::LayerNorm => LayerNorm::burn_builder(&v("channels"), &v("eps")),
        OpKind::AttentionPool => AttentionPool::burn_builder(&v("channels")),
        OpKind::Linear => {
            let (i, o) = (v("in"), v("out"));
            let mut b = quote! { LinearConfig::new(#i, #o) };
            if !is("bias", Lit::Bool(true)) {
                let bias = v("bias");
                b = quote! { #b.with_bias(#bias) };
            }
            quote! { #b.init(device) }
        }
        OpKind::MaxPool | OpKind::AvgPool => {
            let (kh, kw, sh, sw) = (v("kh"), v("kw"), v("sh"), v("sw"));
            let mut b = if kind == OpKind::MaxPool {
                quote! { MaxPool2dConfig::new([#kh, #kw]) }
            } else {
                quote! { AvgPool2dConfig::new([#kh, #kw]) }
            };
            b = quote! { #b.with_strides([#sh, #sw]) };
            if !zero_pad {
                let p = pad(v);
                b = quote! { #b.with_padding(#p) };
            }
            if !is("ceil", Lit::Bool(false)) {
                let c = v("ceil");
                b = quote! { #b.with_ceil_mode(#c) };
            }
            if kind == OpKind::AvgPool && !is("count_pad", Lit::Bool(true)) {
                let c = v("count_pad");
                b = quote! { #b.with_count_include_pad(#c) };
            }
            quote! { #b.init() }
        }
        OpKind::Dropout => {
            let p = v("p");
            quote! { DropoutConfig::new(#p).init() }
        }
        OpKind::DropPath => {
            let (p, test, per) = (v("survival"), v("scale_at_test"), v("per_sample"));
            quote! { DropPath::new(#p, #test, #per) }
        }
    }
}

/// The constants of an inline op, named; they become fields when they differ
/// between instances.
pub fn inline_consts(op: &Op) -> Vec<(&'static str, Lit)> {
    use Lit::*;
    match op {
        Op::Act(a) => a.def().consts().into_iter().map(|(n, v)| (n, F64(v))).collect(),
        Op::Slice(Slice { start, end }) => vec![("start", Usize(*start)), ("end", Usize(*end))],
        Op::SplitSum(s) => vec![("radix", Usize(s.radix))],
        Op::RadixSoftmax(r) => vec![("radix", Usize(r.radix)), ("groups", Usize(r.groups))],
        Op::Subsample(Subsample { stride }) => vec![("stride", Usize(*stride))],
        Op::PadChannels(PadChannels { before, after }) => vec![("before", Usize(*before)), ("after", Usize(*after))],
        Op::Pad(p) => vec![("amount", Usize(p.amount)), ("value", F64(p.value))],
        Op::BlurPool(b) => vec![("stride", Usize(b.stride)), ("size", Usize(b.size))],
        _ => Vec::new(),
    }
}

/// Inline tensor code for a stateless op on `args`; `c` gives each constant's tokens.
pub fn inline(op: &Op, args: &[TokenStream], c: &dyn Fn(&str) -> TokenStream) -> TokenStream {
    let a = &args[0];
    match op {
        Op::Act(f) => f.def().burn(a, c),
        Op::Identity | Op::Input => quote! { #a },
        Op::GlobalAvgPool => quote! { #a.mean_dim(3).mean_dim(2) },
        Op::Flatten => quote! { #a.flatten(1, 3) },
        Op::Add(_) => {
            let rest = &args[1..];
            quote! { #a #(+ #rest)* }
        }
        Op::Mul => {
            let b = &args[1];
            quote! { #a * #b }
        }
        Op::Concat => quote! { Tensor::cat(vec![#(#args),*], 1) },
        Op::Slice(Slice { end, .. }) => {
            let start = c("start");
            if *end == 0 {
                quote! {{
                    let t = #a;
                    let channels = t.dims()[1];
                    t.narrow(1, #start, channels - #start)
                }}
            } else {
                let end = c("end");
                if start.to_string() == "0" {
                    quote! { #a.narrow(1, 0, #end) }
                } else {
                    quote! { #a.narrow(1, #start, #end - #start) }
                }
            }
        }
        Op::SplitSum(_) => SplitSum::burn(a, &c("radix")),
        Op::RadixSoftmax(_) => RadixSoftmax::burn(a, &c("radix"), &c("groups")),
        Op::Subsample(_) => {
            let s = c("stride");
            quote! { AvgPool2dConfig::new([1, 1]).with_strides([#s, #s]).init().forward(#a) }
        }
        Op::PadChannels(_) => {
            let (b, af) = (c("before"), c("after"));
            quote! {{
                let t = #a;
                let [n, _, h, w] = t.dims();
                let device = t.device();
                Tensor::cat(vec![Tensor::zeros([n, #b, h, w], &device), t, Tensor::zeros([n, #af, h, w], &device)], 1)
            }}
        }
        Op::Pad(_) => Pad2d::burn(a, &c("amount"), &c("value")),
        Op::BlurPool(_) => BlurPool::burn(a, &c("stride"), &c("size")),
        Op::Conv2d(_)
        | Op::BatchNorm(_)
        | Op::GroupNorm(_)
        | Op::ChannelConv(_)
        | Op::LayerNorm(_)
        | Op::AttentionPool(_)
        | Op::Linear(_)
        | Op::Pool(_)
        | Op::Dropout(_)
        | Op::DropPath(_) => {
            unreachable!("module ops are fields")
        }
    }
}

/// Stochastic depth, generated only into models that use it.
pub fn drop_path_fn() -> TokenStream {
    quote! {
        /// Stochastic depth on a residual branch. While training (a module
        /// flag that `freeze()` and `valid()` clear, on an autodiff device,
        /// as burn's dropout layer does), the branch is kept with probability
        /// `survival`, drawn per sample or once per batch; `scale_at_test`
        /// follows the paper (scale by `survival` at test time) instead of timm
        /// (divide by it in training).
        #[derive(Module, Debug)]
        pub struct DropPath {
            pub survival: f64,
            pub scale_at_test: bool,
            pub per_sample: bool,
            pub training: Param<Flag>,
        }

        impl DropPath {
            pub fn new(survival: f64, scale_at_test: bool, per_sample: bool) -> Self {
                Self { survival, scale_at_test, per_sample, training: Param::from_bool(true) }
            }

            pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
                if !self.training.is_enabled() || !x.device().is_autodiff() {
                    return if self.scale_at_test { x * self.survival } else { x };
                }
                if self.survival >= 1.0 {
                    return x;
                }
                let [n, _, _, _] = x.dims();
                let draws = if self.per_sample { n } else { 1 };
                let keep = Tensor::<4>::random(
                    [draws, 1, 1, 1],
                    burn::tensor::Distribution::Bernoulli(self.survival),
                    &x.device(),
                );
                let kept = x * keep;
                if self.scale_at_test { kept } else { kept / self.survival }
            }
        }
    }
}
