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
/// measured, im2col wins).
pub fn suits(conv: &Conv2d) -> bool {
    conv.kernel == [3, 3]
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
/// tiles and `kn` output channels, on a register tile `nr` wide.
fn task_scratch(c: usize, kn: usize, nty: usize, tw: usize, nr: usize) -> usize {
    let ntp = (nty * tw).div_ceil(nr) * nr;
    let two = 2 * (tw + 1);
    16 * (ntp * c + nr) + 16 * kn * ntp + (2 * nty + 2) * two + 4 * nty * two + 16 * ntp
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
    // As `scratch_len` reckons.
    let band = (tiles_per_task(c, k) / tw).clamp(1, th);
    let bands = th.div_ceil(band);
    let row_cuts: Vec<usize> = (0..=bands).map(|b| (2 * b * band).min(oh)).collect();
    // Too few bands to keep every thread busy: split the channels too.
    let parts = if threads > 1 && bands < 2 * threads { threads } else { 1 };
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
/// `V[ξ][tile panel][C][nr]` (nr the tile's width), packed as [`raw::tile`] reads it; the
/// products `M[ξ][K][tiles]`, rows and columns padded to whole tiles.
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
    let lines = (2 * nty + 2) * two;
    scratch.resize(task_scratch(s.c, kn, nty, s.tw, nr), 0.0);
    let (v, rest) = scratch.split_at_mut(16 * vx);
    let (m, rest) = rest.split_at_mut(16 * kn * ntp);
    let (inputs, rest) = rest.split_at_mut(lines);
    let (z, t) = rest.split_at_mut(4 * nty * two);
    for ci in 0..s.c {
        let plane = &x[ci * s.h * s.w..(ci + 1) * s.h * s.w];
        for (r, line) in inputs.chunks_exact_mut(two).enumerate() {
            input_line(plane, s, 2 * ty0 + r, line);
        }
        // Bᵀ down the columns: row i of each tile row's transform.
        for ty in 0..nty {
            let r = |q: usize| &inputs[(2 * ty + q) * two..(2 * ty + q + 1) * two];
            let (r0, r1, r2, r3) = (r(0), r(1), r(2), r(3));
            let combos: [(&[f32], &[f32], f32); 4] = [(r0, r2, -1.0), (r1, r2, 1.0), (r2, r1, -1.0), (r1, r3, -1.0)];
            for (i, (p, q, sign)) in combos.into_iter().enumerate() {
                let out = &mut z[(i * nty + ty) * two..(i * nty + ty + 1) * two];
                for (d, (p, q)) in out.iter_mut().zip(p.iter().zip(q)) {
                    *d = p + sign * q;
                }
            }
        }
        // Bᵀ along the rows: tile t's columns are e[t], o[t], e[t+1], o[t+1].
        for i in 0..4 {
            for ty in 0..nty {
                let (e, o) = z[(i * nty + ty) * two..(i * nty + ty + 1) * two].split_at(half);
                let (e0, e1, o0, o1) = (&e[..s.tw], &e[1..], &o[..s.tw], &o[1..]);
                let combos: [(&[f32], &[f32], f32); 4] =
                    [(e0, e1, -1.0), (o0, e1, 1.0), (e1, o0, -1.0), (o0, o1, -1.0)];
                for (j, (p, q, sign)) in combos.into_iter().enumerate() {
                    let at = (i * 4 + j) * ntp + ty * s.tw;
                    for (d, (p, q)) in t[at..at + s.tw].iter_mut().zip(p.iter().zip(q)) {
                        *d = p + sign * q;
                    }
                }
            }
        }
        // Into the panels the GEMM reads (lanes past the last tile are
        // never read back).
        for (xi, tx) in t.chunks_exact(ntp).enumerate() {
            for (n, lanes) in tx.chunks_exact(nr).enumerate() {
                let at = xi * vx + (n * s.c + ci) * nr;
                v[at..at + nr].copy_from_slice(lanes);
            }
        }
    }
    let kpanels = s.k.div_ceil(MR);
    for xi in 0..16 {
        for k0 in (0..s.c).step_by(KC) {
            let kc = KC.min(s.c - k0);
            for p in p0..p1 {
                let a = &u[((xi * kpanels + p) * s.c + k0) * MR..];
                for n in 0..np {
                    let b = &v[xi * vx + (n * s.c + k0) * nr..];
                    let c = &mut m[(xi * kn + (p - p0) * MR) * ntp + n * nr..];
                    raw::tile(s.isa, kc, a, b, c, ntp, k0 > 0);
                }
            }
        }
    }
    let (y0, rest) = t.split_at_mut(ntp);
    let (y1, rest) = rest.split_at_mut(ntp);
    let (y2, rest) = rest.split_at_mut(ntp);
    let y3 = &mut rest[..ntp];
    for o in ks {
        let ko = o - p0 * MR;
        let ms: [&[f32]; 16] = std::array::from_fn(|xi| &m[(xi * kn + ko) * ntp..][..nt]);
        output_tiles(&ms, [&mut y0[..nt], &mut y1[..nt], &mut y2[..nt], &mut y3[..nt]]);
        for ty in ty0..ty1 {
            let at = (ty - ty0) * s.tw;
            for (dy, (even, odd)) in [(&*y0, &*y1), (&*y2, &*y3)].into_iter().enumerate() {
                let oy = 2 * ty + dy;
                if oy >= rows.end {
                    break;
                }
                let (even, odd) = (&even[at..at + s.tw], &odd[at..at + s.tw]);
                let row = rect.row(o, oy);
                let mut pairs = row.chunks_exact_mut(2);
                for (pair, (e, o)) in (&mut pairs).zip(even.iter().zip(odd)) {
                    pair[0] = *e;
                    pair[1] = *o;
                }
                if let [last] = pairs.into_remainder() {
                    *last = even[s.tw - 1];
                }
            }
        }
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
    let pairs = src[from..from + 2 * (hi - lo)].chunks_exact(2);
    for ((e, o), pair) in even[lo..hi].iter_mut().zip(&mut odd[lo..hi]).zip(pairs) {
        *e = pair[0];
        *o = pair[1];
    }
}

/// `Aᵀ M A` for a run of tiles: `ms[4a + b]` holds M's (a, b) entry per
/// tile; out: the top row's even and odd outputs, then the bottom row's.
#[inline(always)]
fn output_tiles(ms: &[&[f32]; 16], [y0, y1, y2, y3]: [&mut [f32]; 4]) {
    let n = y0.len();
    // Equal lengths up front, so that the loop below carries no bounds checks.
    assert!(ms.iter().all(|m| m.len() == n) && [y1.len(), y2.len(), y3.len()] == [n; 3]);
    for t in 0..n {
        let g = |a: usize, b: usize| ms[a * 4 + b][t];
        let s0 = |a: usize| g(a, 0) + g(a, 1) + g(a, 2);
        let s1 = |a: usize| g(a, 1) - g(a, 2) - g(a, 3);
        y0[t] = s0(0) + s0(1) + s0(2);
        y1[t] = s1(0) + s1(1) + s1(2);
        y2[t] = s0(1) - s0(2) - s0(3);
        y3[t] = s1(1) - s1(2) - s1(3);
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
    /// 1 and 2, 1x1 outputs, bands split across rows and channels split
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
