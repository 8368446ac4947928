//! The `init` code of a stage: its blocks' constructor calls, with runs of
//! equal calls as one `repeat`, runs whose numbers step evenly from block to
//! block (DPN's growing inputs, a drop-path rate falling over the blocks) as
//! one `(0..n).map(|i| ..)`, and single calls in a row in one `vec![..]`.

use proc_macro2::{Literal, TokenStream, TokenTree};
use quote::quote;

use crate::backend::burn::config::{Tok, flatten, rewrite};

/// A run of calls takes this many before it is written as a progression:
/// two calls read better as they are.
const MIN_PROGRESSION: usize = 3;

pub fn stage_init(calls: Vec<TokenStream>) -> TokenStream {
    let toks: Vec<Vec<Tok>> = calls.iter().map(flatten).collect();
    let mut parts = Vec::new();
    let mut k = 0;
    while k < calls.len() {
        let mut j = k + 1;
        while j < calls.len() && toks[j] == toks[k] {
            j += 1;
        }
        let call = &calls[k];
        if j - k > 1 {
            let n = Literal::usize_unsuffixed(j - k);
            parts.push((false, quote! { repeat(#n, || #call) }));
            k = j;
            continue;
        }
        if let Some((len, code)) = progression(&calls[k], &toks[k..]) {
            parts.push((false, code));
            k += len;
            continue;
        }
        parts.push((true, quote! { #call }));
        k += 1;
    }
    let mut groups: Vec<TokenStream> = Vec::new();
    let mut singles: Vec<TokenStream> = Vec::new();
    for (single, p) in parts {
        if single {
            singles.push(p);
        } else {
            if !singles.is_empty() {
                groups.push(quote! { vec![#(#singles),*] });
                singles.clear();
            }
            groups.push(p);
        }
    }
    if !singles.is_empty() {
        groups.push(quote! { vec![#(#singles),*] });
    }
    if groups.len() == 1 {
        let p = &groups[0];
        quote! { #p }
    } else {
        quote! { [#(#groups),*].concat() }
    }
}

/// The longest run from the first call whose calls differ only in numbers,
/// each stepping by the same amount every call: its length and its code,
/// `(0..n).map(|i| Block::init(device, 64 + 32 * i, ..)).collect::<Vec<_>>()`.
fn progression(first: &TokenStream, toks: &[Vec<Tok>]) -> Option<(usize, TokenStream)> {
    let moved = |other: &[Tok]| -> Option<Vec<(usize, f64, f64)>> {
        if other.len() != toks[0].len() {
            return None;
        }
        let mut out = Vec::new();
        for (i, (a, b)) in toks[0].iter().zip(other).enumerate() {
            if a == b {
                continue;
            }
            let (x, y) = (a.number()?, b.number()?);
            if a.is_int() != b.is_int() {
                return None;
            }
            out.push((i, x, y));
        }
        Some(out)
    };
    let second = moved(toks.get(1)?)?;
    if second.is_empty() {
        return None;
    }
    let steps: Vec<(usize, f64, f64)> = second.iter().map(|&(i, x, y)| (i, x, y - x)).collect();
    let close = |y: f64, want: f64| (y - want).abs() <= 1e-12 * y.abs().max(want.abs()).max(1.0);
    let mut len = 2;
    while let Some(next) = toks.get(len).and_then(|t| moved(t)) {
        let fits = next.len() == steps.len()
            && next.iter().zip(&steps).all(|(&(i, _, y), &(j, x, step))| i == j && close(y, x + step * len as f64));
        if !fits {
            break;
        }
        len += 1;
    }
    if len < MIN_PROGRESSION {
        return None;
    }
    // A float step as short as it can be written and still give every
    // block's number (`0.0111111111111111`, not `0.011111111111111072`).
    let value = |k: usize, i: usize| toks[k][i].number().unwrap_or(f64::NAN);
    let shortest = |i: usize, x: f64, step: f64| {
        (1..=17)
            .filter_map(|digits| format!("{step:.*e}", digits - 1).parse::<f64>().ok())
            .find(|&s| {
                (0..len).all(|k| (value(k, i) - (x + s * k as f64)).abs() <= 4.0 * f64::EPSILON * value(k, i).abs())
            })
            .unwrap_or(step)
    };
    let terms: std::collections::HashMap<usize, (f64, f64, bool)> = steps
        .iter()
        .map(|&(i, x, step)| {
            let int = toks[0][i].is_int();
            (i, (x, if int { step } else { shortest(i, x, step) }, int))
        })
        .collect();
    let mut index = 0;
    let call = rewrite(first.clone(), &mut index, &|i| terms.get(&i).map(|&(x, step, int)| line(x, step, int)));
    let n = Literal::usize_unsuffixed(len);
    Some((len, quote! { (0..#n).map(|i| #call).collect::<Vec<_>>() }))
}

/// `start + step * i` for the block index `i`, as a count or a float.
fn line(start: f64, step: f64, int: bool) -> TokenStream {
    let number = |x: f64| {
        TokenTree::Literal(if int { Literal::u64_unsuffixed(x.round() as u64) } else { Literal::f64_unsuffixed(x) })
    };
    let (s, m) = (number(start), number(step.abs()));
    let i = if int {
        quote! { i }
    } else {
        quote! { i as f64 }
    };
    let term = if (step.abs() - 1.0).abs() < 1e-12 {
        i
    } else {
        quote! { #m * #i }
    };
    match (start == 0.0, step < 0.0) {
        (true, false) => term,
        (false, false) => quote! { #s + #term },
        (_, true) => quote! { #s - #term },
    }
}
