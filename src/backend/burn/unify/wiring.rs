//! Phase two: one program's inputs for every instance. An absent optional
//! step stands for some earlier value (its "none value"): its own input
//! usually, the block input for a pre-activation shortcut.

use std::collections::HashMap;

use super::align::{Ctx, Ref};
use super::unsupported;
use crate::backend::burn::CodegenError;

pub struct Wiring {
    /// Each step's inputs.
    pub canon: HashMap<String, Vec<Ref>>,
    /// What each optional step's value is where it is absent.
    pub none_value: HashMap<String, Ref>,
    pub output: Ref,
}

/// Follows absent steps to the value instance `i` really has; binds an
/// unbound none value to `want` where it is earlier than `before`.
fn resolve(
    ctx: &Ctx<'_, '_>,
    r: &Ref,
    i: usize,
    want: &Ref,
    before: usize,
    none: &mut HashMap<String, Ref>,
) -> Option<Ref> {
    let mut r = r.clone();
    for _ in 0..=ctx.order.len() + 1 {
        match &r {
            Ref::Input => return Some(r),
            Ref::Step(k) if ctx.step_of(i, k).is_some() => return Some(r),
            Ref::Step(k) => match none.get(k) {
                Some(v) => r = v.clone(),
                None if ctx.pos(want) < before && ctx.pos(want) < ctx.pos(&r) => {
                    none.insert(k.clone(), want.clone());
                    return Some(want.clone());
                }
                None => return None,
            },
        }
    }
    None
}

pub fn wire(ctx: &Ctx<'_, '_>) -> Result<Wiring, CodegenError> {
    let at = &ctx.at;
    let n_inst = ctx.n_inst();
    let mut canon: HashMap<String, Vec<Ref>> = HashMap::new();
    let mut none_value: HashMap<String, Ref> = HashMap::new();
    for (kpos, key) in ctx.order.iter().enumerate() {
        let holders: Vec<usize> = (0..n_inst).filter(|&i| ctx.step_of(i, key).is_some()).collect();
        let arity = ctx.representative(key).inputs.len();
        let mut slots = Vec::new();
        for j in 0..arity {
            let mut cands: Vec<Ref> = Vec::new();
            let mut actuals = Vec::new();
            for &i in &holders {
                let a = ctx.actual(i, ctx.step_of(i, key).expect("a holder").inputs[j])?;
                if !cands.contains(&a) {
                    cands.push(a.clone());
                }
                actuals.push((i, a));
            }
            // Prefer the latest candidate in program order.
            cands.sort_by_key(|c| ctx.pos(c));
            let mut chosen = None;
            for c in cands.iter().rev() {
                let mut trial = none_value.clone();
                if actuals.iter().all(|(i, a)| resolve(ctx, c, *i, a, kpos + 1, &mut trial).as_ref() == Some(a)) {
                    none_value = trial;
                    chosen = Some(c.clone());
                    break;
                }
            }
            slots.push(chosen.ok_or_else(|| unsupported("instances whose layers connect differently", at))?);
        }
        if holders.len() < n_inst && arity != 1 {
            return Err(unsupported(format!("a layer with {arity} inputs that only some instances have"), at));
        }
        canon.insert(key.clone(), slots);
    }
    // Unconstrained absent steps pass their input through.
    for key in &ctx.order {
        if (0..n_inst).any(|i| ctx.step_of(i, key).is_none()) && !none_value.contains_key(key) {
            none_value.insert(key.clone(), canon[key][0].clone());
        }
    }
    // The output, the same way.
    let g = ctx.plan.g;
    let outs: Vec<Ref> = (0..n_inst)
        .map(|i| {
            let s = ctx.ty.instances[i];
            let out = if s.0 == 0 { g.output } else { ctx.plan.boundary(s).map(|b| b.1)? };
            ctx.actual(i, out)
        })
        .collect::<Result<_, _>>()?;
    let mut out_cands = outs.clone();
    out_cands.dedup();
    let end = ctx.order.len() + 1;
    let output = out_cands
        .iter()
        .find(|c| {
            let mut trial = none_value.clone();
            (0..n_inst).all(|i| resolve(ctx, c, i, &outs[i], end, &mut trial).as_ref() == Some(&outs[i]))
        })
        .cloned()
        .ok_or_else(|| unsupported("instances with different outputs", at))?;
    Ok(Wiring { canon, none_value, output })
}
