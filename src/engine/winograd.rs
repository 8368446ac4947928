//! Winograd's F(2x2, 3x3) for stride-1 3x3 convolutions (Lavin and Gray,
//! 2015): a 2x2 tile of outputs comes from a 4x4 tile of input in 16
//! multiplies per pair of input and output channels instead of 36. The
//! filters are transformed once, at load time; per run, the input tiles are
//! transformed, multiplied as 16 GEMMs (one per position in the 4x4 tile,
//! over all tiles at once) and transformed back. Each task takes a band of
//! tile rows small enough that its GEMM operands stay in the core's L2
//! cache, and, when there are too few bands to share, a part of the output
//! channels.
//!
//! The transforms (B, G, A of the paper):
//! - input  `V = Bᵀ d B`, `Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]`;
//! - filter `U = G g Gᵀ`, `G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]`;
//! - output `Y = Aᵀ M A`, `Aᵀ = [1 1 1 0; 0 1 -1 -1]`.

use std::cell::RefCell;

use super::raw::{self, Isa, MR, NR_MAX};
use crate::ir::op::Conv2d;

/// Whether a convolution runs here: 3x3, stride 1, no dilation, one group,
/// and channels enough on both sides for the transforms to pay (below 16,
/// measured, im2col wins; DenseNet's 128 to 32 runs 1.1x faster here).
/// `declared` is the output's size where the model fixes it: with fewer
/// than 32 tiles (a 7x7 output has 16) the filters, 16/9 the size of the
/// plain ones, are streamed from memory for too little work, and the
/// register tile runs half empty (resnet18 as a whole 1.03x slower with its
/// 7x7 layers here; 14x14 ones are 1.3x faster; DenseNet's 32-channel
/// 14x14 ones 0.10-0.13 ms against 0.13-0.14 by shifted GEMMs, on Zen 4).
/// Other sizes run correctly either way.
pub fn suits(conv: &Conv2d, declared: Option<(u64, u64)>) -> bool {
    let tiles = declared.map_or(u64::MAX, |(oh, ow)| oh.div_ceil(2) * ow.div_ceil(2));
    tiles >= 32
        && conv.kernel == [3, 3]
        && conv.stride == [1, 1]
        && conv.dilation == [1, 1]
        && conv.groups == 1
        && conv.in_channels >= 16
        && conv.out_channels >= 16
}

/// Filters `[K][C][3][3]` as 16 matrices `U = G g Gᵀ` of K x C, each
/// packed for [`raw::tile`]: panels of MR output channels (the last one
/// padded with zeros), `[16][panel][C][MR]`.
pub fn transform_filters(w: &[f32], k: usize, c: usize) -> Vec<f32> {
    assert_eq!(w.len(), k * c * 9, "3x3 filters");
    let panels = k.div_ceil(MR);
    let mut u = vec![0.0; 16 * panels * c * MR];
    // G times a 3-vector.
    let g = |a: f32, b: f32, c: f32| [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c];
    for o in 0..k {
        for i in 0..c {
            let f = &w[(o * c + i) * 9..(o * c + i + 1) * 9];
            // Columns of G g (4x3), then each row of it times Gᵀ.
            let cols: [[f32; 4]; 3] = std::array::from_fn(|j| g(f[j], f[3 + j], f[6 + j]));
            for r in 0..4 {
                for (s, v) in g(cols[0][r], cols[1][r], cols[2][r]).into_iter().enumerate() {
                    u[(((r * 4 + s) * panels + o / MR) * c + i) * MR + o % MR] = v;
                }
            }
        }
    }
    u
}

/// Tiles per task: the task's transformed inputs and GEMM outputs,
/// 16 x (C + K) x tiles floats, kept to about 1 MiB.
fn tiles_per_task(c: usize, k: usize) -> usize {
    (262_144 / (16 * (c + k))).clamp(4, 256)
}

/// Floats of one task's scratch, for a task of `nty` tile rows of `tw`
/// tiles and `kn` output channels, on a register tile `nr` wide: the
/// transformed inputs, the products, and the task's input lines.
fn task_scratch(c: usize, kn: usize, nty: usize, tw: usize, nr: usize) -> usize {
    let ntp = (nty * tw).div_ceil(nr) * nr;
    16 * (ntp * c + nr) + 16 * kn * ntp + (2 * nty + 2) * 2 * (tw + 1)
}

/// Floats of scratch each worker keeps for a convolution of `c` to `k`
/// channels with output `(oh, ow)`: what the memory plan counts.
pub fn scratch_len(c: usize, k: usize, (oh, ow): (usize, usize)) -> usize {
    let (th, tw) = (oh.div_ceil(2), ow.div_ceil(2));
    let band = (tiles_per_task(c, k) / tw.max(1)).clamp(1, th.max(1));
    task_scratch(c, k.div_ceil(MR) * MR, band, tw, NR_MAX)
}

thread_local! {
    /// Each worker's transformed tiles; reused across calls.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// `y = conv(x)` for input `(c, h, w)`, padding `(ph, pw)`, transformed
/// filters `u` of `k` outputs, output `(oh, ow)` (`h + 2ph - 2` by
/// `w + 2pw - 2`).
#[allow(clippy::too_many_arguments)]
pub fn conv(
    isa: Isa,
    x: &[f32],
    (c, h, w): (usize, usize, usize),
    (ph, pw): (usize, usize),
    u: &[f32],
    k: usize,
    y: &mut [f32],
    (oh, ow): (usize, usize),
    threads: usize,
) {
    assert!(x.len() >= c * h * w && u.len() >= 16 * k.div_ceil(MR) * MR * c, "winograd operands in bounds");
    assert!(oh + 2 == h + 2 * ph && ow + 2 == w + 2 * pw, "a stride-1 3x3 output");
    if oh == 0 || ow == 0 || k == 0 {
        return;
    }
    let (th, tw) = (oh.div_ceil(2), ow.div_ceil(2));
    // At most as `scratch_len` reckons; narrower where that leaves a
    // thread without a band.
    let mut band = (tiles_per_task(c, k) / tw).clamp(1, th);
    if threads > 1 && th.div_ceil(band) < threads {
        band = th.div_ceil(threads);
    }
    let bands = th.div_ceil(band);
    let row_cuts: Vec<usize> = (0..=bands).map(|b| (2 * b * band).min(oh)).collect();
    // Fewer tile rows than threads: split the channels too. Only then:
    // each part transforms its band's whole input again (DenseNet's
    // 32-channel 28x28 layers, two bands on two threads: 0.40 to 0.30 ms
    // each kept whole, on Zen 4; its 14x14 ones, one band until it was
    // cut in two, 0.18 to 0.10-0.13 ms).
    let parts = if threads > 1 && bands < threads { threads } else { 1 };
    // Whole filter panels per part.
    let per = k.div_ceil(parts).div_ceil(MR) * MR;
    let mut plane_cuts: Vec<usize> = (0..parts).map(|p| (p * per).min(k)).collect();
    plane_cuts.push(k);
    plane_cuts.dedup();
    let shape = Shape { c, h, w, ph, pw, k, tw, isa };
    raw::par_rects(y, (k, oh, ow), [&plane_cuts, &row_cuts, &[0, ow]], |rect| {
        SCRATCH.with(|s| raw::vectorised(isa, Task { x, u, s: &shape, rect, scratch: &mut s.borrow_mut() }));
    });
}

struct Shape {
    c: usize,
    h: usize,
    w: usize,
    ph: usize,
    pw: usize,
    k: usize,
    tw: usize,
    isa: Isa,
}

/// Depth of one pass of [`raw::tile`]: its two panels (6 KiB, and 16 or
/// 32 KiB by the tile's width) stay in a 48 KiB L1 cache.
const KC: usize = 256;

/// One task's work, compiled per instruction set: the transforms are
/// loops the compiler widens.
struct Task<'t, 'r> {
    x: &'t [f32],
    u: &'t [f32],
    s: &'t Shape,
    rect: &'t mut raw::Rect<'r>,
    scratch: &'t mut Vec<f32>,
}

impl raw::Vectorised for Task<'_, '_> {
    #[inline(always)]
    fn run(self) {
        task(self.x, self.u, self.s, self.rect, self.scratch);
    }
}

/// One band of tile rows for one range of output channels.
///
/// Layouts, ξ = 4i + j the position in the 4x4 tile: the transformed input
/// `V[ξ][tile panel][C][nr]` (nr the tile's width), packed as [`raw::tile`]
/// reads it; the products `M[ξ][K][tiles]`, rows and columns padded to
/// whole tiles. Both transforms take tiles side by side in vector lanes:
/// with the input lines split into even and odd columns, entry (r, c) of
/// consecutive tiles lies at consecutive places of one line.
#[inline(always)]
fn task(x: &[f32], u: &[f32], s: &Shape, rect: &mut raw::Rect, scratch: &mut Vec<f32>) {
    let (ks, rows) = (rect.planes(), rect.rows());
    let (ty0, ty1) = (rows.start / 2, rows.end.div_ceil(2));
    let nt = (ty1 - ty0) * s.tw;
    let nr = s.isa.nr();
    let (np, half) = (nt.div_ceil(nr), s.tw + 1);
    let ntp = np * nr;
    let (p0, p1) = (ks.start / MR, ks.end.div_ceil(MR));
    let kn = (p1 - p0) * MR;
    // One position's panels, padded by a line: at power-of-two strides the
    // 16 positions written for each tile would share one set of the L1 cache.
    let vx = np * s.c * nr + nr;
    let (nty, two) = (ty1 - ty0, 2 * half);
    scratch.resize(task_scratch(s.c, kn, nty, s.tw, nr), 0.0);
    let (v, rest) = scratch.split_at_mut(16 * vx);
    let (m, inputs) = rest.split_at_mut(16 * kn * ntp);
    for ci in 0..s.c {
        let plane = &x[ci * s.h * s.w..(ci + 1) * s.h * s.w];
        for (r, line) in inputs.chunks_exact_mut(two).enumerate() {
            input_line(plane, s, 2 * ty0 + r, line);
        }
        for ty in 0..nty {
            let lines: [&[f32]; 4] = std::array::from_fn(|q| &inputs[(2 * ty + q) * two..(2 * ty + q + 1) * two]);
            // The tile row's tiles, cut where a panel of nr ends.
            let mut tx = 0;
            while tx < s.tw {
                let n = ty * s.tw + tx;
                let len = (nr - n % nr).min(s.tw - tx);
                let at = (n / nr * s.c + ci) * nr + n % nr;
                input_run(&lines, half, tx, len, v, at, vx);
                tx += len;
            }
        }
    }
    let kpanels = s.k.div_ceil(MR);
    for xi in 0..16 {
        for k0 in (0..s.c).step_by(KC) {
            let kc = KC.min(s.c - k0);
            // The tile panel (nr x kc) stays in L1 while the filter panels
            // (MR x kc, a fifth of its size) stream past it from L2.
            for n in 0..np {
                let b = &v[xi * vx + (n * s.c + k0) * nr..];
                for p in p0..p1 {
                    let a = &u[((xi * kpanels + p) * s.c + k0) * MR..];
                    let c = &mut m[(xi * kn + (p - p0) * MR) * ntp + n * nr..];
                    raw::tile(s.isa, kc, a, b, c, ntp, k0 > 0);
                }
            }
        }
    }
    for o in ks {
        let ko = o - p0 * MR;
        for ty in ty0..ty1 {
            let at = (ty - ty0) * s.tw;
            let ms: [&[f32]; 16] = std::array::from_fn(|xi| &m[(xi * kn + ko) * ntp + at..][..s.tw]);
            let oy = 2 * ty;
            let (top, bottom) = rect.two_rows(o, oy, (oy + 1 < rows.end).then_some(oy + 1));
            output_run(&ms, top, bottom);
        }
    }
}

/// Bᵀ d B for tiles `tx..tx + len` of one tile row, from its four input
/// lines (each its even columns, `half` of them, then its odd ones), into
/// `v[ξ * vx + at + t]` for the run's t-th tile.
#[inline(always)]
fn input_run(lines: &[&[f32]; 4], half: usize, tx: usize, len: usize, v: &mut [f32], at: usize, vx: usize) {
    let mut j = 0;
    while j + 16 <= len {
        input_block::<16>(lines, half, tx + j, v, at + j, vx);
        j += 16;
    }
    if j + 8 <= len {
        input_block::<8>(lines, half, tx + j, v, at + j, vx);
        j += 8;
    }
    if j + 4 <= len {
        input_block::<4>(lines, half, tx + j, v, at + j, vx);
        j += 4;
    }
    for j in j..len {
        input_block::<1>(lines, half, tx + j, v, at + j, vx);
    }
}

/// Bᵀ applied to a column (or a row) of four vectors: 0 - 2, 1 + 2,
/// 2 - 1, 1 - 3.
#[inline(always)]
fn bt<const W: usize>([x0, x1, x2, x3]: [[f32; W]; 4]) -> [[f32; W]; 4] {
    let mut y = [[0.0; W]; 4];
    for l in 0..W {
        y[0][l] = x0[l] - x2[l];
        y[1][l] = x1[l] + x2[l];
        y[2][l] = x2[l] - x1[l];
        y[3][l] = x1[l] - x3[l];
    }
    y
}

/// W tiles' input transform, each array a vector of W lanes. Every
/// vector is a named local, never an array indexed in a loop, and every
/// helper a function inlined always (closures may not be): otherwise the
/// compiler keeps the lanes on the stack.
#[inline(always)]
fn input_block<const W: usize>(lines: &[&[f32]; 4], half: usize, tx: usize, v: &mut [f32], at: usize, vx: usize) {
    // a_c[i]: row i of Bᵀ d in column c.
    let a0 = input_column::<W>(lines, half, tx, 0);
    let a1 = input_column::<W>(lines, half, tx, 1);
    let a2 = input_column::<W>(lines, half, tx, 2);
    let a3 = input_column::<W>(lines, half, tx, 3);
    store_row(v, at, vx, 0, bt([a0[0], a1[0], a2[0], a3[0]]));
    store_row(v, at, vx, 1, bt([a0[1], a1[1], a2[1], a3[1]]));
    store_row(v, at, vx, 2, bt([a0[2], a1[2], a2[2], a3[2]]));
    store_row(v, at, vx, 3, bt([a0[3], a1[3], a2[3], a3[3]]));
}

/// Bᵀ times column `c` of W tiles' inputs: tile tx's columns are
/// even[tx], odd[tx], even[tx + 1], odd[tx + 1] of each line.
#[inline(always)]
fn input_column<const W: usize>(lines: &[&[f32]; 4], half: usize, tx: usize, c: usize) -> [[f32; W]; 4] {
    let from = (c % 2) * half + tx + c / 2;
    bt([load(lines[0], from), load(lines[1], from), load(lines[2], from), load(lines[3], from)])
}

#[inline(always)]
fn load<const W: usize>(line: &[f32], from: usize) -> [f32; W] {
    let mut out = [0.0; W];
    out.copy_from_slice(&line[from..from + W]);
    out
}

/// Row i of V (positions 4i..4i + 4) for W tiles.
#[inline(always)]
fn store_row<const W: usize>(v: &mut [f32], at: usize, vx: usize, i: usize, [v0, v1, v2, v3]: [[f32; W]; 4]) {
    for (j, lanes) in [v0, v1, v2, v3].iter().enumerate() {
        let to = (i * 4 + j) * vx + at;
        v[to..to + W].copy_from_slice(lanes);
    }
}

/// Aᵀ M A for one tile row: `ms[4a + b]` holds M's (a, b) entry of each
/// tile; the outputs go to the top row and, unless the band ends first,
/// the bottom one (a last odd column is left off).
#[inline(always)]
fn output_run(ms: &[&[f32]; 16], top: &mut [f32], mut bottom: Option<&mut [f32]>) {
    let tw = ms[0].len();
    let mut t = 0;
    // Whole blocks whose pairs of columns all lie in the row.
    while t + 16 <= tw && 2 * (t + 16) <= top.len() {
        output_block::<16, 32>(ms, t, top, bottom.as_deref_mut());
        t += 16;
    }
    while t + 4 <= tw && 2 * (t + 4) <= top.len() {
        output_block::<4, 8>(ms, t, top, bottom.as_deref_mut());
        t += 4;
    }
    for t in t..tw {
        output_block::<1, 2>(ms, t, top, bottom.as_deref_mut());
    }
}

/// W tiles' output transform; `W2` is 2W, the outputs of one row.
#[inline(always)]
fn output_block<const W: usize, const W2: usize>(
    ms: &[&[f32]; 16],
    t: usize,
    top: &mut [f32],
    bottom: Option<&mut [f32]>,
) {
    let (r0, r1, r2, r3) = (m_row::<W>(ms, 0, t), m_row::<W>(ms, 1, t), m_row::<W>(ms, 2, t), m_row::<W>(ms, 3, t));
    store_pairs::<W, W2>(&mut top[2 * t..], [r0, r1, r2], 1.0);
    if let Some(out) = bottom {
        store_pairs::<W, W2>(&mut out[2 * t..], [r1, r2, r3], -1.0);
    }
}

/// Row a of M for W tiles: its columns' (0 + 1 + 2) and (1 - 2 - 3).
#[inline(always)]
fn m_row<const W: usize>(ms: &[&[f32]; 16], a: usize, t: usize) -> [[f32; W]; 2] {
    let (m0, m1, m2, m3) =
        (&ms[a * 4][t..t + W], &ms[a * 4 + 1][t..t + W], &ms[a * 4 + 2][t..t + W], &ms[a * 4 + 3][t..t + W]);
    let (mut e, mut o) = ([0.0; W], [0.0; W]);
    for l in 0..W {
        e[l] = m0[l] + m1[l] + m2[l];
        o[l] = m1[l] - m2[l] - m3[l];
    }
    [e, o]
}

/// `p + sign (q + r)` of three rows' sums, even and odd outputs
/// interleaved into `out` (as much of them as it holds).
#[inline(always)]
fn store_pairs<const W: usize, const W2: usize>(out: &mut [f32], [p, q, r]: [[[f32; W]; 2]; 3], sign: f32) {
    let mut pairs = [0.0; W2];
    for l in 0..W {
        pairs[2 * l] = p[0][l] + sign * (q[0][l] + r[0][l]);
        pairs[2 * l + 1] = p[1][l] + sign * (q[1][l] + r[1][l]);
    }
    if out.len() >= W2 {
        out[..W2].copy_from_slice(&pairs);
    } else {
        // The last tile of an odd width: its even column only.
        let n = out.len();
        out.copy_from_slice(&pairs[..n]);
    }
}

/// Padded input row `q` (input row `q - ph`, zeros outside), split into
/// its even columns then its odd ones, `tw + 1` each.
#[inline(always)]
fn input_line(plane: &[f32], s: &Shape, q: usize, line: &mut [f32]) {
    let half = s.tw + 1;
    let (even, odd) = line.split_at_mut(half);
    let Some(iy) = q.checked_sub(s.ph).filter(|&iy| iy < s.h) else {
        even.fill(0.0);
        odd.fill(0.0);
        return;
    };
    let src = &plane[iy * s.w..(iy + 1) * s.w];
    // Padded column c is input column c - pw; even[j] is column 2j, odd[j] 2j + 1.
    let col = |c: usize| c.checked_sub(s.pw).and_then(|ix| src.get(ix)).copied().unwrap_or(0.0);
    // The j whose columns 2j and 2j + 1 both lie in the input, copied
    // pairwise (a loop the compiler vectorises); the rest one by one.
    let lo = s.pw.div_ceil(2).min(half);
    let hi = ((s.pw + s.w) / 2).clamp(lo, half);
    for j in (0..lo).chain(hi..half) {
        even[j] = col(2 * j);
        odd[j] = col(2 * j + 1);
    }
    let from = 2 * lo - s.pw;
    let (src, even, odd) = (&src[from..from + 2 * (hi - lo)], &mut even[lo..hi], &mut odd[lo..hi]);
    // Indexed with lengths the compiler can see: strided loads it widens.
    for j in 0..even.len().min(odd.len()).min(src.len() / 2) {
        even[j] = src[2 * j];
        odd[j] = src[2 * j + 1];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A direct 3x3 convolution, stride 1, zero padding.
    fn direct(x: &[f32], (c, h, w): (usize, usize, usize), (ph, pw): (usize, usize), f: &[f32], k: usize) -> Vec<f32> {
        let (oh, ow) = (h + 2 * ph - 2, w + 2 * pw - 2);
        let mut y = vec![0.0; k * oh * ow];
        for o in 0..k {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut sum = 0.0f64;
                    for i in 0..c {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let (iy, ix) = ((oy + ky).wrapping_sub(ph), (ox + kx).wrapping_sub(pw));
                                if iy < h && ix < w {
                                    sum += f64::from(x[(i * h + iy) * w + ix] * f[((o * c + i) * 3 + ky) * 3 + kx]);
                                }
                            }
                        }
                    }
                    y[(o * oh + oy) * ow + ox] = sum as f32;
                }
            }
        }
        y
    }

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 7919 + seed * 104_729) % 1009) as f32 / 1009.0 - 0.5).collect()
    }

    /// Odd and even sizes (a last tile half outside the output), padding 0,
    /// 1 and 2, 1x1 outputs, long tile rows, bands split across rows and channels split
    /// across threads, channel counts that fill no GEMM tile evenly.
    #[test]
    fn matches_a_direct_convolution_at_every_remainder() {
        let cases = [
            (16, 16, 8, 8, 1),
            (17, 19, 7, 9, 1),
            (16, 24, 3, 3, 0),
            (20, 16, 1, 1, 1),
            (16, 16, 2, 5, 2),
            (24, 40, 56, 13, 1),
            (130, 70, 9, 9, 1),
            (64, 300, 4, 4, 1),
            // Tile rows of 20 and 35: runs of 16, 8, 4 and single tiles, cut
            // where a register tile's panel of 16 or 32 ends mid-row.
            (16, 64, 6, 40, 1),
            (16, 16, 5, 69, 1),
        ];
        for (c, k, h, w, p) in cases {
            let (x, f) = (values(c * h * w, 1), values(k * c * 9, 2));
            let want = direct(&x, (c, h, w), (p, p), &f, k);
            let u = transform_filters(&f, k, c);
            let (oh, ow) = (h + 2 * p - 2, w + 2 * p - 2);
            let runs =
                Isa::available().into_iter().flat_map(|isa| [(isa, 1), (isa, 2 + (isa == Isa::Portable) as usize)]);
            for (isa, threads) in runs {
                let mut y = vec![f32::NAN; k * oh * ow];
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                pool.install(|| conv(isa, &x, (c, h, w), (p, p), &u, k, &mut y, (oh, ow), threads));
                let scale = want.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
                for (i, (a, b)) in y.iter().zip(&want).enumerate() {
                    assert!(
                        (a - b).abs() <= 1e-5 * scale,
                        "c {c} k {k} {h}x{w} pad {p}, {isa:?}, {threads} threads, at {i}: {a} vs {b}"
                    );
                }
            }
        }
    }

    /// Which 3x3 layers run here: resnet50's 14x14 ones (256 channels, 49
    /// tiles) and DenseNet's (32 channels, 49 to 784 tiles), not a 7x7 one,
    /// nor one with few input channels, nor a strided one.
    #[test]
    fn winograd_takes_layers_with_channels_or_tiles_enough() {
        let conv = |c: u64, k: u64| Conv2d {
            in_channels: c,
            out_channels: k,
            kernel: [3, 3],
            stride: [1, 1],
            padding: [1, 1],
            dilation: [1, 1],
            groups: 1,
            bias: false,
            standardize: None,
        };
        assert!(suits(&conv(256, 256), Some((14, 14))));
        assert!(suits(&conv(128, 32), Some((56, 56))));
        assert!(suits(&conv(128, 32), Some((28, 28))));
        assert!(suits(&conv(128, 32), None), "an undeclared size");
        assert!(suits(&conv(128, 32), Some((14, 14))));
        assert!(!suits(&conv(128, 32), Some((7, 7))));
        assert!(!suits(&conv(512, 512), Some((7, 7))));
        assert!(!suits(&conv(8, 64), Some((56, 56))), "too few input channels");
        assert!(!suits(&Conv2d { stride: [2, 2], ..conv(64, 64) }, Some((28, 28))));
    }

    #[test]
    fn the_filter_transform_of_a_centre_tap_is_its_outer_product() {
        // g = e_centre: G g = (0, ½, -½, 0), so U = that vector's outer product.
        let mut f = vec![0.0; 9];
        f[4] = 1.0;
        let u = transform_filters(&f, 1, 1);
        let col = [0.0, 0.5, -0.5, 0.0];
        for r in 0..4 {
            for s in 0..4 {
                // One panel of MR channels per position, channel 0 first.
                assert_eq!(u[(r * 4 + s) * MR], col[r] * col[s]);
            }
        }
    }
}
