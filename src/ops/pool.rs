//! `maxpool(kernel, stride, padding, ceil_mode)` and `avgpool(..,
//! count_include_pad)`: PyTorch's `MaxPool2d` and `AvgPool2d`.

use super::conv::{pair, too_large};
use super::dims::{CheckKind, DimAlgebra, Dims, Window};
use super::{OpDef, want_maps};
use crate::ir::op::Op;
use crate::ir::op::ShapeError;
use crate::ir::shape::Shape;
use crate::sema::builtins::{ArgDefault::*, ArgError, Args, OpSig, p};
use crate::sema::value::Type;

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
