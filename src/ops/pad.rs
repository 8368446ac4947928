//! `pad(amount, value)`: constant padding of height and width, as PyTorch's
//! `ConstantPad2d(amount, value)`. BiT's stem pads with zeros before a max
//! pool without padding of its own ("fixed" SAME padding), which is not the
//! same as the pool padding with minus infinity.
//!
//! Everything the compiler knows about the op is here: the IR, the
//! interpreter, the engine and the burn and ONNX backends call into it.

use proc_macro2::TokenStream;
use quote::quote;

use super::OpDef;
use super::dims::{CheckKind, DimAlgebra, Dims};
use crate::backend::burn::ops::Lit;
use crate::backend::interp::{RunError, Tensor, Weights, per_plane};
use crate::backend::onnx::builder::GraphParts;
use crate::backend::onnx::{Lowered, OnnxError, OnnxNode};
use crate::engine::lower::{Kind, LowerNode, Lowering, WeightError};
use crate::ir::op::Op;
use crate::ir::op::{ShapeError, want_rank};
use crate::ir::shape::Shape;
use crate::ops::BurnForm;
use crate::sema::builtins::{ArgDefault::*, MAX, OpSig, p, range_err};
use crate::sema::value::Type;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pad2d {
    /// Rows above and below, columns left and right.
    pub amount: u64,
    pub value: f64,
}

impl OpDef for Pad2d {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn describe(&self) -> String {
        if self.value == 0.0 { format!("pad {}", self.amount) } else { format!("pad {} ({})", self.amount, self.value) }
    }

    fn validate(&self, inputs: &[&Shape]) -> Result<(), ShapeError> {
        want_rank(Self::NAME, inputs[0], 4)
    }

    fn dims<A: DimAlgebra>(&self, a: &mut A, ins: &[Dims<A::V>]) -> Result<Dims<A::V>, CheckKind> {
        let [n, c, h, w] = ins[0];
        let grow = 2 * self.amount as i64;
        Ok([n, c, a.add_k(h, grow), a.add_k(w, grow)])
    }

    fn evaluate(&self, ins: &[&Tensor], w: &Weights<'_>) -> Result<Tensor, RunError> {
        let (_, a) = (w, self.amount as usize);
        Ok(per_plane(ins[0], |h, w| (h + 2 * a, w + 2 * a), |x, h, w| self.reference(x, h, w)))
    }

    fn to_onnx(&self, n: &mut OnnxNode<'_, '_>) -> Result<Lowered, OnnxError> {
        let (x, name) = (n.x(), n.name());
        Ok(Lowered::Value(self.onnx(n.parts(), &x, &name)))
    }

    fn burn_form(&self) -> BurnForm {
        BurnForm::Inline { consts: vec![("amount", Lit::Usize(self.amount)), ("value", Lit::F64(self.value))] }
    }

    fn emit_inline(&self, args: &[TokenStream], c: &dyn Fn(&str) -> TokenStream) -> TokenStream {
        Self::burn(&args[0], &c("amount"), &c("value"))
    }

    fn lower(&self, n: &mut LowerNode<'_, '_>) -> Result<Lowering, WeightError> {
        Ok(Lowering::Step(n.step(Kind::Pad2d { x: n.ins[0], op: *self })))
    }

    fn attributes(&self) -> String {
        format!("pad{{amount: {}, value: {}}}", self.amount, self.value)
    }
}

impl Pad2d {
    pub const NAME: &'static str = "pad";

    /// The reference: each output position of one `h` x `w` plane reads the
    /// input where it falls inside, the value elsewhere.
    pub fn reference(&self, x: &[f32], h: usize, w: usize) -> Vec<f32> {
        let p = self.amount as i64;
        let (oh, ow) = (h as i64 + 2 * p, w as i64 + 2 * p);
        let mut y = Vec::with_capacity((oh * ow) as usize);
        for r in 0..oh {
            for c in 0..ow {
                let (i, j) = (r - p, c - p);
                let inside = (0..h as i64).contains(&i) && (0..w as i64).contains(&j);
                y.push(if inside { x[(i * w as i64 + j) as usize] } else { self.value as f32 });
            }
        }
        y
    }

    /// The engine's kernel, one plane: fill, then copy the rows in.
    pub fn run(&self, x: &[f32], h: usize, w: usize, y: &mut [f32]) {
        let p = self.amount as usize;
        let ow = w + 2 * p;
        y.fill(self.value as f32);
        for (r, row) in x.chunks(w).take(h).enumerate() {
            let at = (r + p) * ow + p;
            y[at..at + w].copy_from_slice(row);
        }
    }

    /// burn's `Tensor::pad` with a constant; `amount` and `value` are tokens.
    pub fn burn(x: &TokenStream, amount: &TokenStream, value: &TokenStream) -> TokenStream {
        quote! { #x.pad((#amount, #amount, #amount, #amount), burn::tensor::ops::PadMode::Constant(#value)) }
    }

    /// ONNX `Pad` (constant mode) on the last two axes.
    pub fn onnx(&self, p: &mut GraphParts, x: &str, name: &str) -> String {
        let a = self.amount as i64;
        let pads = p.constant_i64(&format!("{name}.pads"), &[0, 0, a, a, 0, 0, a, a]);
        let value = p.constant_f32(&format!("{name}.value"), self.value as f32);
        p.node("Pad", &[x, &pads, &value], vec![], name)
    }
}

pub fn builtin() -> OpSig {
    OpSig {
        name: Pad2d::NAME,
        params: vec![p("amount", Type::Int, Required), p("value", Type::Float, Float(0.0))],
        build: |a, _| {
            let value = a.float("value");
            if !value.is_finite() {
                return Err(range_err("value", "`pad` value", "a finite number", value));
            }
            Ok(Op::Pad(Pad2d { amount: a.int("amount", 0, MAX)?, value }))
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worked by hand: a 2x2 plane padded by one with 9.
    #[test]
    fn by_hand() {
        let op = Pad2d { amount: 1, value: 9.0 };
        let want = [9., 9., 9., 9., 9., 1., 2., 9., 9., 3., 4., 9., 9., 9., 9., 9.];
        assert_eq!(op.reference(&[1., 2., 3., 4.], 2, 2), want);
        let mut y = [0.0; 16];
        op.run(&[1., 2., 3., 4.], 2, 2, &mut y);
        assert_eq!(y, want);
    }

    #[test]
    fn engine_matches_reference_on_odd_planes() {
        for (h, w, amount) in [(1, 1, 0), (1, 5, 2), (3, 2, 1), (4, 7, 3)] {
            let op = Pad2d { amount, value: -0.5 };
            let x: Vec<f32> = (0..h * w).map(|i| i as f32).collect();
            let (oh, ow) = (h + 2 * amount as usize, w + 2 * amount as usize);
            let mut y = vec![0.0; oh * ow];
            op.run(&x, h, w, &mut y);
            assert_eq!(y, op.reference(&x, h, w), "{h}x{w} padded by {amount}");
        }
    }
}
