//! Running steps on the arena, one sample at a time; GEMM and the compiled
//! kernels do the heavy work, and each step's epilogue runs right after it
//! on the freshly written output while it is still in cache.

use rayon::prelude::*;

use super::jit::Table;
use super::kernels::OperandKind;
use super::lower::{ConvForm, Epilogue, Kind, Lowered, Operand, Step};
use super::memory::{Plan, View};
use super::raw;
use crate::ir::op::{Conv2d, Pool, PoolKind};

pub struct Ctx<'a> {
    pub l: &'a Lowered,
    pub plan: &'a Plan,
    pub jit: &'a Table,
    pub dims: &'a [i64],
    pub threads: usize,
    pub isa: raw::Isa,
}

impl Ctx<'_> {
    pub(super) fn view(&self, v: usize) -> View {
        self.plan.views[v].expect("a value that is read has a place")
    }
    pub(super) fn chw(&self, v: usize) -> (usize, usize, usize) {
        let d = &self.dims[v * 4..v * 4 + 4];
        (d[1] as usize, d[2] as usize, d[3] as usize)
    }
}

/// Below this many values a kernel runs on one thread.
const PARALLEL_MIN: usize = 1 << 15;

pub fn run_step(cx: &Ctx, si: usize, arena: &mut [f32], scratch: &mut [f32]) {
    let step = &cx.l.steps[si];
    let over_batch = super::over_batch::suits(cx, step);
    if let Some(conv) = over_batch {
        super::over_batch::conv(cx, step, conv, arena, scratch);
    }
    for s in 0..cx.plan.batch {
        run_sample(cx, si, step, s, arena, scratch, over_batch.is_some());
    }
}

/// `computed`: the step's own work is done (over the batch); only its
/// epilogue is left.
fn run_sample(cx: &Ctx, si: usize, step: &Step, s: usize, arena: &mut [f32], scratch: &mut [f32], computed: bool) {
    let out = cx.view(step.out).sample(s);
    let in_place = cx.plan.in_place[si];
    let mut reads: Vec<std::ops::Range<usize>> = Vec::new();
    // Inputs first (skipped when in place or already in the concat), then operands.
    match &step.kind {
        Kind::Concat { parts } => {
            for (k, &p) in parts.iter().enumerate() {
                if !cx.plan.concat_done[si][k] {
                    reads.push(cx.view(p).sample(s));
                }
            }
        }
        Kind::Elementwise { .. } if in_place => {}
        _ => reads.push(cx.view(step.reads()[0]).sample(s)),
    }
    let operand_at = reads.len();
    if let Some(e) = &step.epilogue {
        for o in &e.operands {
            if let Operand::Value(v) = o {
                reads.push(cx.view(*v).sample(s));
            }
        }
    }
    let (y, ins) = raw::split(arena, out, &reads);
    let (oc, oh, ow) = cx.chw(step.out);
    match &step.kind {
        _ if computed => {}
        Kind::Conv { x, conv, weight, form: ConvForm::Winograd(tile) } => {
            let pad = (conv.padding[0] as usize, conv.padding[1] as usize);
            let u = &cx.l.weights[*weight];
            super::winograd::conv(cx.isa, *tile, ins[0], cx.chw(*x), pad, u, oc, y, (oh, ow), cx.threads);
        }
        Kind::Conv { x, conv, weight, form: ConvForm::Direct } => {
            super::direct::conv(cx.isa, ins[0], cx.chw(*x), conv, &cx.l.weights[*weight], y, (oh, ow), cx.threads);
        }
        Kind::Conv { x, conv, weight, form: ConvForm::Gemm } => {
            let (c, h, w) = cx.chw(*x);
            conv2d(cx, ins[0], (c, h, w), conv, &cx.l.weights[*weight], y, (oh, ow), scratch);
        }
        Kind::Linear { weight, in_features, out_features, .. } => {
            gemm_rows_major(y, &cx.l.weights[*weight], ins[0], (*out_features, 1, *in_features), cx.threads);
        }
        Kind::Elementwise { .. } => {}
        Kind::Unary { act, .. } => super::unary::apply(*act, ins[0], y),
        Kind::Pool { x, pool } => {
            let (_, h, w) = cx.chw(*x);
            y.par_chunks_mut(oh * ow)
                .zip(ins[0].par_chunks(h * w))
                .for_each(|(o, i)| pool2d(i, (h, w), pool, o, (oh, ow)));
        }
        Kind::GlobalAvg { x } => {
            let (_, h, w) = cx.chw(*x);
            for (o, plane) in y.iter_mut().zip(ins[0].chunks(h * w)) {
                *o = plane.iter().sum::<f32>() / (h * w) as f32;
            }
        }
        Kind::Concat { parts } => {
            let plane = oh * ow;
            let (mut at, mut k) = (0, 0);
            for (pi, &p) in parts.iter().enumerate() {
                let len = cx.chw(p).0 * plane;
                if !cx.plan.concat_done[si][pi] {
                    y[at..at + len].copy_from_slice(&ins[k][..len]);
                    k += 1;
                }
                at += len;
            }
        }
        Kind::Slice { start, .. } => {
            let plane = oh * ow;
            y.copy_from_slice(&ins[0][start * plane..start * plane + oc * plane]);
        }
        Kind::SplitSum { op, .. } => op.run(ins[0], y),
        Kind::RadixSoftmax { op, .. } => {
            let len = y.len();
            op.run(&ins[0][..len], y);
        }
        Kind::ChannelConv { op, weight, .. } => {
            // The arena's slices may run past this sample's C values.
            let c = op.channels as usize;
            op.run(&ins[0][..c], &cx.l.weights[*weight], &mut y[..c]);
        }
        Kind::GroupNorm { groups, eps, scale, shift, .. } => {
            let (scale, shift) = (&cx.l.weights[*scale], &cx.l.weights[*shift]);
            group_norm(ins[0], y, (oc, oh * ow), *groups, *eps, scale, shift);
        }
        Kind::Subsample { x, stride } => {
            let (_, h, w) = cx.chw(*x);
            for (o, i) in y.chunks_mut(oh * ow).zip(ins[0].chunks(h * w)) {
                for yy in 0..oh {
                    for xx in 0..ow {
                        o[yy * ow + xx] = i[yy * stride * w + xx * stride];
                    }
                }
            }
        }
        Kind::Pad2d { x, op } => per_plane(cx.chw(*x), ins[0], (y, oh * ow), |i, h, w, o| op.run(i, h, w, o)),
        Kind::BlurPool { x, op } => per_plane(cx.chw(*x), ins[0], (y, oh * ow), |i, h, w, o| op.run(i, h, w, o)),
        Kind::LayerNorm { x, op, scale, shift } => {
            let (c, h, w) = cx.chw(*x);
            let (scale, shift) = (&cx.l.weights[*scale], &cx.l.weights[*shift]);
            op.run(&ins[0][..c * h * w], h * w, scale, shift, y);
        }
        Kind::AttentionPool { x, op, weight, bias } => {
            let (c, h, w) = cx.chw(*x);
            let (weight, bias) = (&cx.l.weights[*weight], cx.l.weights[*bias][0]);
            op.run(&ins[0][..c * h * w], h * w, weight, bias, y);
        }
        Kind::Pad { before, .. } => {
            let plane = oh * ow;
            y.fill(0.0);
            let len = ins[0].len();
            y[before * plane..before * plane + len].copy_from_slice(ins[0]);
        }
    }
    if let Some(e) = &step.epilogue {
        let src = match (&step.kind, in_place) {
            (Kind::Elementwise { .. }, false) => Some(ins[0]),
            _ => None,
        };
        // A linear layer's output is [N, F, 1, 1]: F channels of one value.
        epilogue(cx, e, y, src, &ins[operand_at..], oc, oh * ow);
    }
}

/// Runs an epilogue kernel over `channels` planes, split across threads when large.
fn epilogue(
    cx: &Ctx,
    e: &Epilogue,
    y: &mut [f32],
    src: Option<&[f32]>,
    values: &[&[f32]],
    channels: usize,
    plane: usize,
) {
    let f = cx.jit.kernel(&e.spec);
    let kinds = e.spec.operand_kinds();
    let mut vi = 0;
    let operands: Vec<&[f32]> = e
        .operands
        .iter()
        .map(|o| match o {
            Operand::Weight(w) => cx.l.weights[*w].as_slice(),
            Operand::Value(_) => {
                vi += 1;
                values[vi - 1]
            }
        })
        .collect();
    let total = channels * plane;
    if cx.threads <= 1 || total < PARALLEL_MIN || channels < 2 {
        raw::kernel(f, &e.spec, y, src, &operands, channels, plane);
        return;
    }
    let chunk = channels.div_ceil(cx.threads * 4).max(1);
    y[..total].par_chunks_mut(chunk * plane).enumerate().for_each(|(k, yc)| {
        let c0 = k * chunk;
        let cn = yc.len() / plane;
        let ops: Vec<&[f32]> = operands
            .iter()
            .zip(&kinds)
            .map(|(o, kind)| match kind {
                OperandKind::PerChannel => &o[c0..c0 + cn],
                OperandKind::Tensor => &o[c0 * plane..(c0 + cn) * plane],
            })
            .collect();
        let sc = src.map(|s| &s[c0 * plane..(c0 + cn) * plane]);
        raw::kernel(f, &e.spec, yc, sc, &ops, cn, plane);
    });
}

#[allow(clippy::too_many_arguments)]
fn conv2d(
    cx: &Ctx,
    x: &[f32],
    (c, h, w): (usize, usize, usize),
    conv: &Conv2d,
    weight: &[f32],
    y: &mut [f32],
    (oh, ow): (usize, usize),
    scratch: &mut [f32],
) {
    let g = conv.groups as usize;
    let (cout_g, cin_g) = (conv.out_channels as usize / g, c / g);
    let [kh, kw] = conv.kernel.map(|v| v as usize);
    let k = cin_g * kh * kw;
    let n = oh * ow;
    let cols: &[f32] = match method(conv) {
        Method::Direct => x,
        Method::Shifted => return conv_shifted(cx, x, (c, h, w), conv, weight, y, (oh, ow), scratch),
        Method::Im2col => {
            let cols = &mut scratch[..c * kh * kw * n];
            im2col(x, (c, h, w), conv, cols, (oh, ow), n);
            cols
        }
    };
    if g == 1 {
        gemm_rows_major(y, weight, cols, (cout_g, n, k), cx.threads);
        return;
    }
    let threads = cx.threads;
    y[..conv.out_channels as usize * n].par_chunks_mut(cout_g * n).enumerate().for_each(|(gi, yg)| {
        let wg = &weight[gi * cout_g * k..(gi + 1) * cout_g * k];
        let bg = &cols[gi * k * n..(gi + 1) * k * n];
        raw::gemm(yg, (n, 1), wg, (k, 1), bg, (n, 1), (cout_g, n, k), if threads > 1 { 1 } else { threads });
    });
}

/// How a convolution becomes GEMMs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// 1x1, stride 1, no padding: the input is already the right matrix.
    Direct,
    /// Stride 1, at most 128 outputs per group: a sum over kernel taps of
    /// GEMMs on the padded input, shifted.
    Shifted,
    /// Anything else: im2col, then one GEMM (per group).
    Im2col,
}

pub fn method(conv: &Conv2d) -> Method {
    if conv.kernel == [1, 1] && conv.stride == [1, 1] && conv.padding == [0, 0] {
        Method::Direct
    } else if conv.stride == [1, 1] && conv.out_channels / conv.groups.max(1) <= 128 {
        // im2col writes (and the GEMM reads) the input kh*kw times over; for
        // few output channels per group that traffic costs more than the
        // GEMM itself (DenseNet's 32-channel 3x3 convs: 2x faster shifted,
        // ResNeXt's grouped 3x3 2x too). For many, one GEMM with a long inner
        // dimension wins (ResNeSt's 2 groups of 256: 10% faster by im2col).
        Method::Shifted
    } else {
        Method::Im2col
    }
}

/// Floats of scratch a convolution needs, for input (c, h, w) and output (oh, ow).
pub fn scratch_len(conv: &Conv2d, (c, h, w): (usize, usize, usize), (oh, ow): (usize, usize)) -> usize {
    let [kh, kw] = conv.kernel.map(|v| v as usize);
    match method(conv) {
        Method::Direct => 0,
        Method::Im2col => c * kh * kw * oh * ow,
        Method::Shifted => {
            let (hp, wp) = (h + 2 * conv.padding[0] as usize, w + 2 * conv.padding[1] as usize);
            c * hp * wp + tail(conv) + conv.out_channels as usize * oh * wp
        }
    }
}

/// Zeros after the padded input: the last row's extra columns read up to
/// this far past it.
fn tail(conv: &Conv2d) -> usize {
    ((conv.kernel[1] - 1) * conv.dilation[1]) as usize
}

/// A stride-1 convolution without im2col: the input is padded once, then
/// for each tap (ky, kx) a GEMM of the tap's weights with the padded input
/// shifted by (ky, kx) accumulates into an output as wide as the padded
/// rows; the extra columns are dropped at the end.
#[allow(clippy::too_many_arguments)]
fn conv_shifted(
    cx: &Ctx,
    x: &[f32],
    (c, h, w): (usize, usize, usize),
    conv: &Conv2d,
    weight: &[f32],
    y: &mut [f32],
    (oh, ow): (usize, usize),
    scratch: &mut [f32],
) {
    let [kh, kw] = conv.kernel.map(|v| v as usize);
    let [ph, pw] = conv.padding.map(|v| v as usize);
    let [dh, dw] = conv.dilation.map(|v| v as usize);
    let (hp, wp) = (h + 2 * ph, w + 2 * pw);
    let m = conv.out_channels as usize;
    let (padded, rest) = scratch.split_at_mut(c * hp * wp + tail(conv));
    let wide = &mut rest[..m * oh * wp];
    padded[..c * hp * wp].par_chunks_mut(hp * wp).enumerate().for_each(|(ci, plane)| {
        plane[..ph * wp].fill(0.0);
        plane[(ph + h) * wp..].fill(0.0);
        for iy in 0..h {
            let row = &mut plane[(ph + iy) * wp..(ph + iy + 1) * wp];
            row[..pw].fill(0.0);
            row[pw..pw + w].copy_from_slice(&x[(ci * h + iy) * w..(ci * h + iy + 1) * w]);
            row[pw + w..].fill(0.0);
        }
    });
    padded[c * hp * wp..].fill(0.0);
    let taps: Vec<(usize, usize)> =
        (0..kh).flat_map(|ky| (0..kw).map(move |kx| (ky * kw + kx, ky * dh * wp + kx * dw))).collect();
    let n = oh * wp;
    let g = conv.groups as usize;
    let (cin_g, cout_g) = (c / g, m / g);
    let lhs_rs = cin_g * kh * kw;
    if g > 1 {
        let padded = &*padded;
        wide.par_chunks_mut(cout_g * n).enumerate().for_each(|(gi, wc)| {
            let wt = &weight[gi * cout_g * lhs_rs..(gi + 1) * cout_g * lhs_rs];
            let rhs = &padded[gi * cin_g * hp * wp..];
            raw::gemm_taps(wc, n, wt, (lhs_rs, kh * kw), rhs, hp * wp, &taps, (cout_g, n, cin_g), 1);
        });
    } else if cx.threads <= 1 || n >= 128 * cx.threads {
        raw::gemm_taps(wide, n, weight, (lhs_rs, kh * kw), padded, hp * wp, &taps, (m, n, c), cx.threads);
    } else {
        // Narrow outputs: split the output channels instead.
        let rows = m.div_ceil(cx.threads).div_ceil(8) * 8;
        let padded = &*padded;
        wide.par_chunks_mut(rows * n).zip(weight[..m * lhs_rs].par_chunks(rows * lhs_rs)).for_each(|(wc, wt)| {
            let r = wc.len() / n;
            raw::gemm_taps(wc, n, wt, (lhs_rs, kh * kw), padded, hp * wp, &taps, (r, n, c), 1);
        });
    }
    y[..m * oh * ow].par_chunks_mut(oh * ow).zip(wide.par_chunks(oh * wp)).for_each(|(o, wv)| {
        for oy in 0..oh {
            o[oy * ow..(oy + 1) * ow].copy_from_slice(&wv[oy * wp..oy * wp + ow]);
        }
    });
}

/// `y = a * b` for row-major `a` (m x k), `b` (k x n) and `y` (m x n),
/// split across threads by hand: measured here, one-thread GEMMs on
/// column blocks (wide outputs) or row blocks (narrow ones) run about 1.5x
/// faster than the GEMM crate's own threading on these shapes.
pub(super) fn gemm_rows_major(y: &mut [f32], a: &[f32], b: &[f32], (m, n, k): (usize, usize, usize), threads: usize) {
    if threads <= 1 || m * n * k < 1 << 18 {
        raw::gemm(y, (n, 1), a, (k, 1), b, (n, 1), (m, n, k), 1);
    } else if n >= 128 * threads {
        raw::gemm_taps(y, n, a, (k, 1), b, n, &[(0, 0)], (m, n, k), threads);
    } else {
        let rows = m.div_ceil(threads).div_ceil(8) * 8;
        y[..m * n].par_chunks_mut(rows * n).zip(a[..m * k].par_chunks(rows * k)).for_each(|(yc, ac)| {
            let r = yc.len() / n;
            raw::gemm(yc, (n, 1), ac, (k, 1), b, (n, 1), (r, n, k), 1);
        });
    }
}

/// Rows (input channel, ky, kx), columns output positions; zero padding.
/// One task per row: the 7x7 stem has 3 input channels, too few to share
/// out by channel.
/// Row r starts at `r * ld` of `cols`.
pub(super) fn im2col(
    x: &[f32],
    (c, h, w): (usize, usize, usize),
    conv: &Conv2d,
    cols: &mut [f32],
    (oh, ow): (usize, usize),
    ld: usize,
) {
    let [kh, kw] = conv.kernel.map(|v| v as usize);
    let [sh, sw] = conv.stride.map(|v| v as usize);
    let [ph, pw] = conv.padding.map(|v| v as usize);
    let [dh, dw] = conv.dilation.map(|v| v as usize);
    let n = oh * ow;
    let rows = c * kh * kw;
    if rows == 0 || n == 0 {
        return;
    }
    cols[..(rows - 1) * ld + n].par_chunks_mut(ld).enumerate().for_each(|(r, row)| {
        let row = &mut row[..n];
        let (ci, ky, kx) = (r / (kh * kw), r / kw % kh, r % kw);
        let plane = &x[ci * h * w..(ci + 1) * h * w];
        // Output columns whose input column ox * sw + kx * dw - pw lies in the row.
        let x0 = kx * dw;
        let lo = pw.saturating_sub(x0).div_ceil(sw).min(ow);
        let hi = if w + pw > x0 { (w + pw - x0).div_ceil(sw).clamp(lo, ow) } else { lo };
        for (oy, out) in row.chunks_exact_mut(ow).enumerate() {
            let iy = (oy * sh + ky * dh).wrapping_sub(ph);
            if iy >= h {
                out.fill(0.0);
                continue;
            }
            let src = &plane[iy * w..(iy + 1) * w];
            out[..lo].fill(0.0);
            out[hi..].fill(0.0);
            if hi > lo {
                let from = lo * sw + x0 - pw;
                let mid = &mut out[lo..hi];
                if sw == 1 {
                    mid.copy_from_slice(&src[from..from + mid.len()]);
                } else {
                    for (o, &v) in mid.iter_mut().zip(src[from..].iter().step_by(sw)) {
                        *o = v;
                    }
                }
            }
        }
    });
}

fn pool2d(x: &[f32], (h, w): (usize, usize), p: &Pool, y: &mut [f32], (oh, ow): (usize, usize)) {
    if p.kind == PoolKind::Max {
        return max_pool2d(x, (h, w), p, y, (oh, ow));
    }
    let [kh, kw] = p.kernel.map(|v| v as isize);
    let [sh, sw] = p.stride.map(|v| v as isize);
    let [ph, pw] = p.padding.map(|v| v as isize);
    let (h, w) = (h as isize, w as isize);
    for oy in 0..oh as isize {
        for ox in 0..ow as isize {
            let (y0, x0) = (oy * sh - ph, ox * sw - pw);
            let (ys, ye) = (y0.max(0), (y0 + kh).min(h));
            let (xs, xe) = (x0.max(0), (x0 + kw).min(w));
            let mut sum = 0.0;
            for iy in ys..ye {
                for ix in xs..xe {
                    sum += x[(iy * w + ix) as usize];
                }
            }
            let count = if p.count_include_pad {
                // Windows clipped to the padded input, as PyTorch counts them.
                ((y0 + kh).min(h + ph) - y0) * ((x0 + kw).min(w + pw) - x0)
            } else {
                (ye - ys) * (xe - xs)
            };
            y[(oy * ow as isize + ox) as usize] = sum / count.max(1) as f32;
        }
    }
}

/// `f32::max` drops a NaN operand; PyTorch's max pool keeps it, and so must a
/// user debugging a diverged checkpoint.
fn max_keeping_nan(a: f32, b: f32) -> f32 {
    if a > b || a.is_nan() { a } else { b }
}

/// Max pooling as two passes, down columns then along the row: for each
/// output row the maxima of its window's input rows, column by column (a
/// loop over contiguous values the compiler vectorises), then each output
/// the maximum of its window in that one row, tap by tap. The stem's 3x3/2
/// pool ran 1.7x slower taking rows first (a short window per output, each
/// reduced on its own). The row's maxima are kept in `sw` phases (columns
/// q, q + sw, ...), so that each tap reads consecutive values too: 1.9x
/// faster on the stem's pool than reading every second column.
fn max_pool2d(x: &[f32], (h, w): (usize, usize), p: &Pool, y: &mut [f32], (oh, ow): (usize, usize)) {
    let [kh, kw] = p.kernel.map(|v| v as isize);
    let [sh, sw] = p.stride.map(|v| v as isize);
    let [ph, pw] = p.padding.map(|v| v as isize);
    let (hi, wi) = (h as isize, w as isize);
    let step = sw as usize;
    let len = w.div_ceil(step);
    let mut cols = vec![f32::NEG_INFINITY; w];
    let mut phases = vec![f32::NEG_INFINITY; step * len];
    for oy in 0..oh {
        let y0 = oy as isize * sh - ph;
        let (ys, ye) = (y0.max(0) as usize, (y0 + kh).min(hi).max(0) as usize);
        cols.fill(f32::NEG_INFINITY);
        for iy in ys.min(ye)..ye {
            for (m, &v) in cols.iter_mut().zip(&x[iy * w..(iy + 1) * w]) {
                *m = max_keeping_nan(*m, v);
            }
        }
        deinterleave(&cols, &mut phases, step);
        let out = &mut y[oy * ow..(oy + 1) * ow];
        out.fill(f32::NEG_INFINITY);
        // Tap by tap, over the outputs whose tap lies in the row: output o
        // reads column o * sw + d, entry o + d / sw of phase d mod sw.
        for kx in 0..kw {
            let up = |v: isize| (v.max(0) as usize).div_ceil(step) as isize;
            let lo = up(pw - kx).min(ow as isize);
            let hi = up(wi + pw - kx).clamp(lo, ow as isize);
            let d = kx - pw;
            let (q, base) = (d.rem_euclid(sw) as usize, d.div_euclid(sw));
            let from = (lo + base) as usize;
            let taps = &phases[q * len..(q + 1) * len][from.min(len)..];
            for (o, &v) in out[lo as usize..hi as usize].iter_mut().zip(taps) {
                *o = max_keeping_nan(*o, v);
            }
        }
    }
}

/// `phases[q * len + i] = cols[q + step * i]`, `len` being the phases'
/// length; entries past the row stay as they are.
fn deinterleave(cols: &[f32], phases: &mut [f32], step: usize) {
    let len = phases.len() / step;
    if step == 2 {
        let (even, odd) = phases.split_at_mut(len);
        let pairs = cols.len() / 2;
        if cols.len() % 2 == 1 {
            even[pairs] = cols[2 * pairs];
        }
        let (src, even, odd) = (&cols[..2 * pairs], &mut even[..pairs], &mut odd[..pairs]);
        // Indexed with lengths the compiler can see: strided loads it widens.
        for j in 0..pairs {
            even[j] = src[2 * j];
            odd[j] = src[2 * j + 1];
        }
        return;
    }
    for (q, phase) in phases.chunks_exact_mut(len).enumerate() {
        for (p, &v) in phase.iter_mut().zip(cols[q.min(cols.len())..].iter().step_by(step)) {
            *p = v;
        }
    }
}

/// A spatial op run plane by plane (`src/ops`' kernels): `x`'s `h` x `w`
/// planes into `y`'s planes of `out` values.
fn per_plane(
    (_, h, w): (usize, usize, usize),
    x: &[f32],
    (y, out): (&mut [f32], usize),
    f: impl Fn(&[f32], usize, usize, &mut [f32]),
) {
    for (o, i) in y.chunks_mut(out.max(1)).zip(x.chunks((h * w).max(1))) {
        f(i, h, w, o);
    }
}

/// One sample's group norm: per group, the sums of x and x² in f64 (one
/// pass), then y = (x - mean) / sqrt(var + eps) * scale[c] + shift[c].
fn group_norm(
    x: &[f32],
    y: &mut [f32],
    (channels, plane): (usize, usize),
    groups: usize,
    eps: f64,
    scale: &[f32],
    shift: &[f32],
) {
    let per = channels / groups * plane;
    for (g, (xg, yg)) in x[..channels * plane].chunks(per).zip(y.chunks_mut(per)).enumerate() {
        let (sum, sq) = xg.iter().fold((0f64, 0f64), |(s, q), &v| (s + f64::from(v), q + f64::from(v) * f64::from(v)));
        let mean = sum / per as f64;
        let var = (sq / per as f64 - mean * mean).max(0.0);
        let inv = 1.0 / (var + eps).sqrt();
        for (c, (xc, yc)) in xg.chunks(plane).zip(yg.chunks_mut(plane)).enumerate() {
            let ch = g * (channels / groups) + c;
            let a = (inv * f64::from(scale[ch])) as f32;
            let b = (f64::from(shift[ch]) - mean * inv * f64::from(scale[ch])) as f32;
            for (o, &v) in yc.iter_mut().zip(xc) {
                *o = v * a + b;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 7919) % 1013) as f32 / 1013.0 - 0.5).collect()
    }

    /// im2col against its definition, entry by entry: strides 1 to 3,
    /// padding 0 to 3 (wider than the kernel's reach, too), dilation 1 and
    /// 2, odd and even sizes.
    #[test]
    fn im2col_matches_its_definition_at_every_stride_padding_and_dilation() {
        for (k, stride, pad, dil, (h, w)) in [
            (7, 2, 3, 1, (23, 18)),
            (3, 1, 1, 1, (5, 9)),
            (3, 2, 1, 2, (11, 10)),
            (3, 3, 0, 1, (10, 13)),
            (1, 2, 0, 1, (7, 8)),
            (3, 1, 3, 1, (4, 3)),
            (5, 2, 2, 2, (9, 12)),
        ] {
            let c = 3;
            let conv = Conv2d {
                in_channels: c as u64,
                out_channels: 4,
                kernel: [k as u64; 2],
                stride: [stride as u64; 2],
                padding: [pad as u64; 2],
                dilation: [dil as u64; 2],
                groups: 1,
                bias: false,
                standardize: None,
            };
            let reach = dil * (k - 1) + 1;
            let (oh, ow) = ((h + 2 * pad - reach) / stride + 1, (w + 2 * pad - reach) / stride + 1);
            let x = values(c * h * w);
            // Rows further apart than they are long (as over a batch): the
            // gaps stay untouched.
            let ld = oh * ow + 5;
            let mut cols = vec![f32::NAN; c * k * k * ld];
            im2col(&x, (c, h, w), &conv, &mut cols, (oh, ow), ld);
            assert!(cols.chunks(ld).all(|row| row[oh * ow..].iter().all(|v| v.is_nan())));
            for ci in 0..c {
                for (ky, kx) in (0..k).flat_map(|a| (0..k).map(move |b| (a, b))) {
                    for (oy, ox) in (0..oh).flat_map(|a| (0..ow).map(move |b| (a, b))) {
                        let (iy, ix) = (
                            (oy * stride + ky * dil) as isize - pad as isize,
                            (ox * stride + kx * dil) as isize - pad as isize,
                        );
                        let inside = (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix);
                        let want = if inside { x[(ci * h + iy as usize) * w + ix as usize] } else { 0.0 };
                        let got = cols[((ci * k + ky) * k + kx) * ld + oy * ow + ox];
                        assert_eq!(
                            got, want,
                            "k {k} s {stride} p {pad} d {dil} {h}x{w}: c {ci} tap {ky},{kx} at {oy},{ox}"
                        );
                    }
                }
            }
        }
    }

    /// Max pooling against the window maxima taken one by one: kernels 1 to
    /// 5, strides 1 to 3, padding 0 to 2 (taps two phases before a row), ceil mode's windows that start in
    /// the padding, and a NaN that must come out.
    #[test]
    fn max_pool_matches_window_maxima() {
        for (k, stride, pad, ceil, (h, w)) in [
            (3, 2, 1, false, (16, 15)),
            (2, 2, 0, true, (7, 9)),
            (3, 1, 1, false, (5, 4)),
            (3, 3, 0, true, (8, 11)),
            (1, 2, 0, false, (6, 5)),
            (5, 2, 2, false, (13, 12)),
            (4, 3, 2, true, (10, 14)),
        ] {
            let pool = Pool {
                kind: PoolKind::Max,
                kernel: [k; 2],
                stride: [stride; 2],
                padding: [pad; 2],
                ceil_mode: ceil,
                count_include_pad: false,
            };
            let (k, stride, pad) = (k as usize, stride as usize, pad as usize);
            let out = |n: usize| {
                let span = n + 2 * pad - k;
                if ceil { span.div_ceil(stride) + 1 } else { span / stride + 1 }
            };
            let (oh, ow) = (out(h), out(w));
            let mut x = values(h * w);
            x[2 * w + 2] = f32::NAN;
            let mut y = vec![0.0; oh * ow];
            pool2d(&x, (h, w), &pool, &mut y, (oh, ow));
            for (oy, ox) in (0..oh).flat_map(|a| (0..ow).map(move |b| (a, b))) {
                let mut want = f32::NEG_INFINITY;
                for (ky, kx) in (0..k).flat_map(|a| (0..k).map(move |b| (a, b))) {
                    let (iy, ix) = ((oy * stride + ky).wrapping_sub(pad), (ox * stride + kx).wrapping_sub(pad));
                    if iy < h && ix < w {
                        want = max_keeping_nan(want, x[iy * w + ix]);
                    }
                }
                let got = y[oy * ow + ox];
                assert!(
                    got == want || (got.is_nan() && want.is_nan()),
                    "k {k} s {stride} p {pad} {h}x{w} at {oy},{ox}: {got} vs {want}"
                );
            }
            assert!(y.iter().any(|v| v.is_nan()), "the NaN reaches the output");
        }
    }

    /// The same worked example as the interpreter's, one pass instead of two.
    #[test]
    fn group_norm_by_hand() {
        let x = [1.0, 3.0, 5.0, 7.0, 0.0, 0.0, 2.0, -2.0];
        let mut y = [0.0; 8];
        group_norm(&x, &mut y, (4, 2), 2, 0.0, &[1.0, 2.0, 1.0, 1.0], &[0.0, 0.0, 0.0, 1.0]);
        let (a, b) = (5f32.sqrt(), 2f32.sqrt());
        let want = [-3.0 / a, -1.0 / a, 2.0 / a, 6.0 / a, 0.0, 0.0, 2.0 / b + 1.0, -2.0 / b + 1.0];
        for (got, want) in y.iter().zip(want) {
            assert!((got - want).abs() < 1e-6, "{y:?}");
        }
    }
}
