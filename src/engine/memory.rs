//! The memory plan: where every value lives in one arena, for given dims.
//!
//! Values that a concat joins are written straight into the concat's
//! buffer, at their channel offset, when nothing stops it (DenseNet's
//! growing feature map is then never copied). An elementwise step whose
//! input dies there works in place. Buffers whose lifetimes do not overlap
//! share arena space (greedy, largest first).

use super::lower::{ConvForm, Kind, Lowered, Operand};

/// Where a value lives: a buffer and an offset inside each sample's item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    pub root: usize,
    pub offset: usize,
}

/// A value's view: for sample `s`, `base + s * stride .. + len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    pub base: usize,
    pub stride: usize,
    pub len: usize,
}

impl View {
    pub fn sample(&self, s: usize) -> std::ops::Range<usize> {
        let start = self.base + s * self.stride;
        start..start + self.len
    }
}

#[derive(Debug)]
pub struct Plan {
    pub views: Vec<Option<View>>,
    /// Per step: whether it runs in place (elementwise), and for a concat
    /// which parts are already where they belong.
    pub in_place: Vec<bool>,
    pub concat_done: Vec<Vec<bool>>,
    pub arena_len: usize,
    /// Floats for im2col.
    pub scratch_len: usize,
    /// Floats each worker keeps for Winograd's tiles (`threads` times over).
    pub worker_scratch: usize,
    pub batch: usize,
}

/// Per value: (channels-like dim, plane size) from the checked dims.
fn item(dims: &[i64], v: usize) -> (usize, usize) {
    let d = &dims[v * 4..v * 4 + 4];
    (d[1] as usize, (d[2] * d[3]) as usize)
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("running this input needs {need_mib} MiB of activations and scratch, above the {limit_mib} MiB limit")]
#[diagnostic(code(resc::run::memory), help("use a smaller batch or input"))]
pub struct TooLarge {
    pub need_mib: u64,
    pub limit_mib: u64,
}

/// Builds the plan for checked `dims` (4 per value).
pub fn plan(l: &Lowered, dims: &[i64], limit_bytes: u64, threads: usize) -> Result<Plan, TooLarge> {
    let n_values = l.alias.len();
    let batch = dims[l.input * 4] as usize;
    let resolve = |v: usize| super::lower::resolve(&l.alias, v);
    let mut produced_by = vec![usize::MAX; n_values];
    for (si, s) in l.steps.iter().enumerate() {
        produced_by[s.out] = si;
    }
    let mut place: Vec<Option<Place>> = vec![None; n_values];
    let mut roots: Vec<usize> = Vec::new(); // root -> the value it was made for
    let new_root = |v: usize, roots: &mut Vec<usize>| {
        roots.push(v);
        Place { root: roots.len() - 1, offset: 0 }
    };
    place[l.input] = Some(new_root(l.input, &mut roots));

    // Concats, last first, so the biggest buffer takes its parts first.
    let mut concat_done: Vec<Vec<bool>> = vec![Vec::new(); l.steps.len()];
    for (si, s) in l.steps.iter().enumerate().rev() {
        let Kind::Concat { parts } = &s.kind else { continue };
        let c = s.out;
        let plane = item(dims, c).1;
        if place[c].is_none() {
            // A concat whose parts already sit side by side is a view of them.
            let first = parts.first().and_then(|&p| place[resolve(p)]);
            let mut expect = first;
            let mut contiguous = first.is_some();
            for &p in parts {
                match (place[resolve(p)], expect) {
                    (Some(at), Some(e)) if at == e && l.alias[p].is_none() => {
                        expect = Some(Place { root: at.root, offset: at.offset + item(dims, p).0 * plane });
                    }
                    _ => contiguous = false,
                }
            }
            place[c] = Some(if contiguous { first.expect("checked") } else { new_root(c, &mut roots) });
        }
        let at = place[c].expect("placed");
        let mut offset = at.offset;
        let mut done = Vec::new();
        for (k, &p) in parts.iter().enumerate() {
            let once = parts.iter().filter(|&&q| q == p).count() == 1;
            let eligible = once
                && l.alias[p].is_none()
                && p != l.input
                && produced_by[p] != usize::MAX
                && !matches!(l.steps[produced_by[p]].kind, Kind::Concat { .. })
                && produced_by[p] < si;
            let want = Place { root: at.root, offset };
            if place[p].is_none() && eligible {
                place[p] = Some(want);
            }
            done.push(place[p] == Some(want) && l.alias[p].is_none());
            offset += item(dims, parts[k]).0 * plane;
        }
        concat_done[si] = done;
    }

    // Every other step output: in place where legal, else a buffer of its own.
    let mut last_use = vec![0usize; n_values];
    for (si, s) in l.steps.iter().enumerate() {
        for v in s.reads() {
            last_use[resolve(v)] = si + 1;
        }
    }
    // The model's output lives past every step: a later step read it last
    // (`from l2` after `relu`) must not overwrite it in place. Found by fuzzing.
    last_use[resolve(l.output)] = usize::MAX;
    let mut in_place = vec![false; l.steps.len()];
    for (si, s) in l.steps.iter().enumerate() {
        if place[s.out].is_some() {
            continue;
        }
        if let Kind::Elementwise { x } = s.kind {
            let x = resolve(x);
            let own = place[x].is_some_and(|p| roots[p.root] == x && p.offset == 0);
            let shared_root =
                (0..n_values).any(|v| v != x && place[v].is_some_and(|p| Some(p.root) == place[x].map(|q| q.root)));
            let operand_is_x = s.epilogue.as_ref().is_some_and(|e| e.operands.contains(&Operand::Value(x)));
            if own
                && !shared_root
                && x != l.input
                && last_use[x] == si + 1
                && !operand_is_x
                && item(dims, x) == item(dims, s.out)
            {
                place[s.out] = place[x];
                in_place[si] = true;
                continue;
            }
        }
        place[s.out] = Some(new_root(s.out, &mut roots));
    }

    // Lifetimes of buffers, in step numbers (the input is written at 0).
    let mut first = vec![usize::MAX; roots.len()];
    let mut last = vec![0usize; roots.len()];
    first[place[l.input].expect("input placed").root] = 0;
    for (si, s) in l.steps.iter().enumerate() {
        let r = place[s.out].expect("every output placed").root;
        first[r] = first[r].min(si + 1);
        last[r] = last[r].max(si + 1);
        for v in s.reads() {
            if let Some(p) = place[resolve(v)] {
                last[p.root] = last[p.root].max(si + 1);
            }
        }
    }
    let out_root = place[l.output].expect("output placed").root;
    last[out_root] = l.steps.len() + 1;

    // Sizes, with overflow treated as too large.
    let too_large = |need: u128| TooLarge {
        need_mib: (need / (1 << 20)).min(u64::MAX as u128) as u64,
        limit_mib: limit_bytes >> 20,
    };
    let sizes: Vec<u128> = roots
        .iter()
        .map(|&v| {
            let (c, p) = item(dims, v);
            (c as u128 * p as u128 * batch as u128).div_ceil(16) * 16
        })
        .collect();
    let total: u128 = sizes.iter().sum();
    if total * 4 > limit_bytes as u128 {
        return Err(too_large(total * 4));
    }
    let mut order: Vec<usize> = (0..roots.len()).collect();
    order.sort_by_key(|&r| std::cmp::Reverse(sizes[r]));
    let mut offsets = vec![0usize; roots.len()];
    let mut placed: Vec<usize> = Vec::new();
    let mut arena_len = 0usize;
    for r in order {
        let size = sizes[r] as usize;
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&q| first[q] <= last[r] && first[r] <= last[q])
            .map(|&q| (offsets[q], offsets[q] + sizes[q] as usize))
            .collect();
        busy.sort();
        let mut at = 0;
        for (s, e) in busy {
            if at + size <= s {
                break;
            }
            at = at.max(e);
        }
        offsets[r] = at;
        arena_len = arena_len.max(at + size);
        placed.push(r);
    }

    let (mut scratch, mut worker): (u128, u128) = (0, 0);
    for s in &l.steps {
        if let Kind::Conv { x, conv, form, .. } = &s.kind {
            let d = |v: usize| dims[v * 4..v * 4 + 4].iter().map(|&d| d as usize).collect::<Vec<_>>();
            let (i, o) = (d(*x), d(s.out));
            match form {
                ConvForm::Winograd(tile) => {
                    worker = worker.max(super::winograd::scratch_len(i[1], o[1], (o[2], o[3]), *tile) as u128);
                }
                ConvForm::Direct => worker = worker.max(super::direct::scratch_len(conv, (i[1], i[2], i[3])) as u128),
                ConvForm::Gemm => {
                    scratch = scratch.max(super::exec::scratch_len(conv, (i[1], i[2], i[3]), (o[2], o[3])) as u128);
                    if super::over_batch::runs(conv, o[2] * o[3], batch) {
                        let len = super::over_batch::scratch_len(conv, i[1], (o[1], o[2], o[3]), batch);
                        scratch = scratch.max(len as u128);
                    }
                }
            }
        }
    }
    let total = arena_len as u128 + scratch + worker * threads.max(1) as u128;
    if total * 4 > limit_bytes as u128 {
        return Err(too_large(total * 4));
    }

    let views = (0..n_values)
        .map(|v| {
            let p = place[resolve(v)]?;
            let (c, plane) = item(dims, v);
            let (rc, rplane) = item(dims, roots[p.root]);
            Some(View { base: offsets[p.root] + p.offset, stride: rc * rplane, len: c * plane })
        })
        .collect();
    let (scratch_len, worker_scratch) = (scratch as usize, worker as usize);
    Ok(Plan { views, in_place, concat_done, arena_len, scratch_len, worker_scratch, batch })
}
