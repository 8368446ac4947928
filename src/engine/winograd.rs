//! Winograd's minimal filtering for stride-1 3x3 convolutions (Lavin and
//! Gray, 2015), in two sizes: F(2x2, 3x3), a 2x2 tile of outputs from a
//! 4x4 tile of input in 16 multiplies per pair of input and output channels
//! instead of 36, and F(4x4, 3x3), a 4x4 tile from a 6x6 one in 36 instead
//! of 144. The filters are transformed once, at load time; per run, the
//! input tiles are transformed, multiplied as one GEMM per position in the
//! input tile (over all tiles at once) and transformed back. Each task takes
//! a band of tile rows small enough that its GEMM operands stay in the
//! core's L2 cache, and, when there are too few bands to share, a part of
//! the output channels.
//!
//! The transforms (B, G, A of the paper), F(2x2, 3x3):
//! - input  `V = Bᵀ d B`, `Bᵀ = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]`;
//! - filter `U = G g Gᵀ`, `G = [1 0 0; ½ ½ ½; ½ -½ ½; 0 0 1]`;
//! - output `Y = Aᵀ M A`, `Aᵀ = [1 1 1 0; 0 1 -1 -1]`.
//!
//! F(4x4, 3x3), on the points 0, ±1, ±2 and ∞:
//! - `Bᵀ = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0;
//!   0 2 -1 -2 1 0; 0 4 0 -5 0 1]`;
//! - `G = [¼ 0 0; -⅙ -⅙ -⅙; -⅙ ⅙ -⅙; 1/24 1/12 ⅙; 1/24 -1/12 ⅙; 0 0 1]`;
//! - `Aᵀ = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]`.

use std::cell::RefCell;

use super::raw::{self, Isa, MR, NR_MAX};
use crate::ir::op::Conv2d;

/// Which of the two algorithms a convolution runs as, by its output tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tile {
    /// F(2x2, 3x3): 16 positions, 4 multiplies per output and channel.
    F2,
    /// F(4x4, 3x3): 36 positions, 2.25 multiplies per output and channel.
    F4,
}

impl Tile {
    /// Outputs along a side of the tile.
    pub fn outputs(self) -> usize {
        match self {
            Tile::F2 => 2,
            Tile::F4 => 4,
        }
    }

    /// Positions in the input tile: the GEMMs of one convolution.
    pub fn positions(self) -> usize {
        (self.outputs() + 2).pow(2)
    }

    pub fn name(self) -> &'static str {
        match self {
            Tile::F2 => "F(2x2, 3x3)",
            Tile::F4 => "F(4x4, 3x3)",
        }
    }
}

/// Whether a convolution runs here, and as which: 3x3, stride 1, no
/// dilation, one group, and channels enough on both sides for the
/// transforms to pay (below 16, measured, im2col wins; DenseNet's 128 to
/// 32 runs 1.1x faster here than by GEMM, though on maps of 28x28 and
/// larger the direct kernel, which lowering asks first, takes those).
/// `declared` is the output's size where the
/// model fixes it: with fewer than 32 tiles (a 7x7 output has 16 of F2's)
/// the filters, 16/9 the size of the plain ones, are streamed from memory
/// for too little work, and the register tile runs half empty (resnet18 as
/// a whole 1.03x slower with its 7x7 layers here; 14x14 ones are 1.3x
/// faster; DenseNet's 32-channel 14x14 ones 0.10-0.13 ms against 0.13-0.14
/// by shifted GEMMs, on Zen 4). F4 takes the layers where its tiles number
/// 32 or more too (28x28 outputs and larger), and sizes left open, if they
/// have 64 outputs or more: its input transform, twice F2's work per input
/// value, is shared by the outputs (DenseNet's 32-output layers as F4 made
/// the model 4-8% slower, resnet50 and resnet18 1-6% faster with theirs,
/// on Zen 5). Other sizes run correctly either way.
pub fn suits(conv: &Conv2d, declared: Option<(u64, u64)>) -> Option<Tile> {
    let tiles = |m: u64| declared.map_or(u64::MAX, |(oh, ow)| oh.div_ceil(m) * ow.div_ceil(m));
    let shape = conv.kernel == [3, 3]
        && conv.stride == [1, 1]
        && conv.dilation == [1, 1]
        && conv.groups == 1
        && conv.in_channels >= 16
        && conv.out_channels >= 16;
    if !shape {
        None
    } else if tiles(4) >= 32 && conv.out_channels >= 64 {
        Some(Tile::F4)
    } else if tiles(2) >= 32 {
        Some(Tile::F2)
    } else {
        None
    }
}

/// `G g` for one column (or row) `g` of a filter, in `Tile::positions`'s
/// side (F2's last two entries unused). In f64: the products are rounded
/// once, when stored.
fn filter_column(tile: Tile, [a, b, c]: [f64; 3]) -> [f64; 6] {
    match tile {
        Tile::F2 => [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c, 0.0, 0.0],
        Tile::F4 => {
            let (e, o) = (a / 24.0 + c / 6.0, b / 12.0);
            [a / 4.0, -(a + b + c) / 6.0, -(a - b + c) / 6.0, e + o, e - o, c]
        }
    }
}

/// Filters `[K][C][3][3]` as the matrices `U = G g Gᵀ` of K x C, one per
/// position, each packed for [`raw::tile`]: panels of MR output channels
/// (the last one padded with zeros), `[position][panel][C][MR]`.
pub fn transform_filters(w: &[f32], k: usize, c: usize, tile: Tile) -> Vec<f32> {
    assert_eq!(w.len(), k * c * 9, "3x3 filters");
    let (side, panels) = (tile.outputs() + 2, k.div_ceil(MR));
    let mut u = vec![0.0; tile.positions() * panels * c * MR];
    for o in 0..k {
        for i in 0..c {
            let f = &w[(o * c + i) * 9..(o * c + i + 1) * 9];
            let f = |j: usize| f64::from(f[j]);
            // Columns of G g (side x 3), then each row of it times Gᵀ.
            let cols: [[f64; 6]; 3] = std::array::from_fn(|j| filter_column(tile, [f(j), f(3 + j), f(6 + j)]));
            for r in 0..side {
                let row = filter_column(tile, [cols[0][r], cols[1][r], cols[2][r]]);
                for (s, &v) in row[..side].iter().enumerate() {
                    u[(((r * side + s) * panels + o / MR) * c + i) * MR + o % MR] = v as f32;
                }
            }
        }
    }
    u
}

/// Tiles per task: the task's transformed inputs and GEMM outputs,
/// positions x (C + K) x tiles floats, kept to about 1 MiB.
fn tiles_per_task(c: usize, k: usize, tile: Tile) -> usize {
    (262_144 / (tile.positions() * (c + k))).clamp(4, 256)
}

/// Floats of one task's scratch, for a task of `nty` tile rows of `tw`
/// tiles and `kn` output channels, on a register tile `nr` wide: the
/// transformed inputs, the products, and the task's input lines.
fn task_scratch(c: usize, kn: usize, nty: usize, tw: usize, nr: usize, tile: Tile) -> usize {
    let (p, m) = (tile.positions(), tile.outputs());
    let ntp = (nty * tw).div_ceil(nr) * nr;
    p * (ntp * c + nr) + p * kn * ntp + PAD + (m * nty + 2) * (m * (tw + 1) + PAD)
}

/// Floats past the products and past each input line that blocks of
/// tiles running past a tile row's end may read.
const PAD: usize = 16;

/// Floats of scratch each worker keeps for a convolution of `c` to `k`
/// channels with output `(oh, ow)`: what the memory plan counts.
pub fn scratch_len(c: usize, k: usize, (oh, ow): (usize, usize), tile: Tile) -> usize {
    let m = tile.outputs();
    let (th, tw) = (oh.div_ceil(m), ow.div_ceil(m));
    let band = (tiles_per_task(c, k, tile) / tw.max(1)).clamp(1, th.max(1));
    task_scratch(c, k.div_ceil(MR) * MR, band, tw, NR_MAX, tile)
}

thread_local! {
    /// Each worker's transformed tiles; reused across calls.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// `y = conv(x)` for input `(c, h, w)`, padding `(ph, pw)`, filters `u` of
/// `k` outputs transformed for `tile`, output `(oh, ow)` (`h + 2ph - 2` by
/// `w + 2pw - 2`).
#[allow(clippy::too_many_arguments)]
pub fn conv(
    isa: Isa,
    tile: Tile,
    x: &[f32],
    (c, h, w): (usize, usize, usize),
    (ph, pw): (usize, usize),
    u: &[f32],
    k: usize,
    y: &mut [f32],
    (oh, ow): (usize, usize),
    threads: usize,
) {
    let positions = tile.positions();
    assert!(x.len() >= c * h * w && u.len() >= positions * k.div_ceil(MR) * MR * c, "winograd operands in bounds");
    assert!(oh + 2 == h + 2 * ph && ow + 2 == w + 2 * pw, "a stride-1 3x3 output");
    if oh == 0 || ow == 0 || k == 0 {
        return;
    }
    let m = tile.outputs();
    let (th, tw) = (oh.div_ceil(m), ow.div_ceil(m));
    // At most as `scratch_len` reckons; narrower where that leaves a
    // thread without a band.
    let mut band = (tiles_per_task(c, k, tile) / tw).clamp(1, th);
    if threads > 1 && th.div_ceil(band) < threads {
        band = th.div_ceil(threads);
    }
    let bands = th.div_ceil(band);
    let row_cuts: Vec<usize> = (0..=bands).map(|b| (m * b * band).min(oh)).collect();
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
    let shape = Shape { c, h, w, ph, pw, k, tw, isa, tile };
    raw::par_rects(y, (k, oh, ow), [&plane_cuts, &row_cuts, &[0, ow]], |rect| {
        SCRATCH.with(|s| {
            let scratch = &mut s.borrow_mut();
            match tile {
                Tile::F2 => raw::vectorised(isa, Task::<F2> { x, u, s: &shape, rect, scratch, tile: F2 }),
                Tile::F4 => raw::vectorised(isa, Task::<F4> { x, u, s: &shape, rect, scratch, tile: F4 }),
            }
        });
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
    tile: Tile,
}

/// Depth of one pass of [`raw::tile`]: its two panels (6 KiB, and 16 or
/// 32 KiB by the tile's width) stay in a 48 KiB L1 cache.
const KC: usize = 256;

/// One task's work, compiled per instruction set and per tile size: the
/// transforms are loops the compiler widens.
struct Task<'t, 'r, X> {
    x: &'t [f32],
    u: &'t [f32],
    s: &'t Shape,
    rect: &'t mut raw::Rect<'r>,
    scratch: &'t mut Vec<f32>,
    tile: X,
}

impl<X: Transforms> raw::Vectorised for Task<'_, '_, X> {
    #[inline(always)]
    fn run(self) {
        task(self.tile, self.x, self.u, self.s, self.rect, self.scratch);
    }
}

/// The transforms of one tile size, on W tiles side by side in vector
/// lanes. Every vector is a named local, never an array indexed in a loop,
/// and every helper a function inlined always (closures may not be):
/// otherwise the compiler keeps the lanes on the stack.
trait Transforms: Copy {
    /// Outputs along a side of the tile (its input side is 2 more).
    const M: usize;

    /// Padded input row `q` (input row `q - ph`, zeros outside), split into
    /// M phases of `tw + 1` columns: phase j holds columns `M i + j`.
    fn input_line(plane: &[f32], s: &Shape, q: usize, line: &mut [f32]);

    /// `Bᵀ d B` for W tiles from `tx` on, from the tile row's input lines
    /// (`phase` columns in each of their phases, then [`PAD`]; lines past
    /// the tile's side empty), into `v[ξ * vx + at + t]` for the t-th tile
    /// and position ξ, the first `n` tiles only.
    #[allow(clippy::too_many_arguments)]
    fn input_block<const W: usize>(
        lines: &[&[f32]; 6],
        phase: usize,
        tx: usize,
        v: &mut [f32],
        at: usize,
        vx: usize,
        n: usize,
    );

    /// `Aᵀ M A` for W tiles from `t` on; the outputs go to the tile's rows
    /// that the band holds, as much of each row as it holds (so a block may
    /// run past the tile row's last tile).
    fn output_block<const W: usize>(ms: &Products, t: usize, rows: &mut [Option<&mut [f32]>; 4]);
}

/// One band of tile rows for one range of output channels.
///
/// Layouts, ξ the position in the input tile (row-major): the transformed
/// input `V[ξ][tile panel][C][nr]` (nr the register tile's width), packed as
/// [`raw::tile`] reads it; the products `M[ξ][K][tiles]`, rows and columns
/// padded to whole tiles. Both transforms take tiles side by side in
/// vector lanes: with the input lines split into M phases of columns, entry
/// (r, c) of consecutive tiles lies at consecutive places of one line.
#[inline(always)]
fn task<X: Transforms>(_: X, x: &[f32], u: &[f32], s: &Shape, rect: &mut raw::Rect, scratch: &mut Vec<f32>) {
    let (m, side) = (X::M, X::M + 2);
    let positions = side * side;
    let (ks, rows) = (rect.planes(), rect.rows());
    let (ty0, ty1) = (rows.start / m, rows.end.div_ceil(m));
    let nt = (ty1 - ty0) * s.tw;
    let nr = s.isa.nr();
    let (np, phase) = (nt.div_ceil(nr), s.tw + 1);
    let ntp = np * nr;
    let (p0, p1) = (ks.start / MR, ks.end.div_ceil(MR));
    let kn = (p1 - p0) * MR;
    // One position's panels, padded by a line: at power-of-two strides the
    // positions written for each tile would share one set of the L1 cache.
    let vx = np * s.c * nr + nr;
    let (nty, line_len) = (ty1 - ty0, m * phase + PAD);
    scratch.resize(task_scratch(s.c, kn, nty, s.tw, nr, s.tile), 0.0);
    let (v, rest) = scratch.split_at_mut(positions * vx);
    let (prod, inputs) = rest.split_at_mut(positions * kn * ntp + PAD);
    for ci in 0..s.c {
        let plane = &x[ci * s.h * s.w..(ci + 1) * s.h * s.w];
        for (r, line) in inputs.chunks_exact_mut(line_len).enumerate() {
            X::input_line(plane, s, m * ty0 + r, &mut line[..m * phase]);
        }
        for ty in 0..nty {
            let lines: [&[f32]; 6] =
                std::array::from_fn(|q| if q < side { &inputs[(m * ty + q) * line_len..][..line_len] } else { &[] });
            // The tile row's tiles, cut where a panel of nr ends.
            let mut tx = 0;
            while tx < s.tw {
                let n = ty * s.tw + tx;
                let len = (nr - n % nr).min(s.tw - tx);
                let at = (n / nr * s.c + ci) * nr + n % nr;
                input_run::<X>(&lines, phase, tx, len, v, at, vx);
                tx += len;
            }
        }
    }
    let kpanels = s.k.div_ceil(MR);
    for xi in 0..positions {
        for k0 in (0..s.c).step_by(KC) {
            let kc = KC.min(s.c - k0);
            // The tile panel (nr x kc) stays in L1 while the filter panels
            // (MR x kc, a fifth of its size) stream past it from L2.
            for n in 0..np {
                let b = &v[xi * vx + (n * s.c + k0) * nr..];
                for p in p0..p1 {
                    let a = &u[((xi * kpanels + p) * s.c + k0) * MR..];
                    let c = &mut prod[(xi * kn + (p - p0) * MR) * ntp + n * nr..];
                    raw::tile(s.isa, kc, a, b, c, ntp, k0 > 0);
                }
            }
        }
    }
    for o in ks {
        let ko = o - p0 * MR;
        for ty in ty0..ty1 {
            let at = (ty - ty0) * s.tw;
            let ms = Products { m: prod, at: ko * ntp + at, stride: kn * ntp, tiles: s.tw };
            let mut out = rect.rows_from::<4>(o, m * ty);
            output_run::<X>(&ms, &mut out);
        }
    }
}

/// `Bᵀ d B` for tiles `tx..tx + len` of one tile row, in blocks of 16, the
/// last one narrower where fewer are left and stored in part (its loads
/// may run into the lines' padding).
#[inline(always)]
fn input_run<X: Transforms>(
    lines: &[&[f32]; 6],
    phase: usize,
    tx: usize,
    len: usize,
    v: &mut [f32],
    at: usize,
    vx: usize,
) {
    let mut j = 0;
    while j + 16 <= len {
        X::input_block::<16>(lines, phase, tx + j, v, at + j, vx, 16);
        j += 16;
    }
    let n = len - j;
    match n {
        0 => {}
        1..=4 => X::input_block::<4>(lines, phase, tx + j, v, at + j, vx, n),
        5..=8 => X::input_block::<8>(lines, phase, tx + j, v, at + j, vx, n),
        _ => X::input_block::<16>(lines, phase, tx + j, v, at + j, vx, n),
    }
}

/// One tile row's products for one output channel: position ξ of tile t
/// at `m[at + ξ stride + t]`, for `tiles` tiles.
struct Products<'a> {
    m: &'a [f32],
    at: usize,
    stride: usize,
    tiles: usize,
}

impl Products<'_> {
    #[inline(always)]
    fn load<const W: usize>(&self, xi: usize, t: usize) -> [f32; W] {
        load(self.m, self.at + xi * self.stride + t)
    }
}

/// `Aᵀ M A` for one tile row, in blocks of 16 tiles, the last one
/// narrower where fewer are left: a block past the last tile reads the
/// products' padding and stores nothing past the row (single tiles cost
/// as much each as a block).
#[inline(always)]
fn output_run<X: Transforms>(ms: &Products, rows: &mut [Option<&mut [f32]>; 4]) {
    let tw = ms.tiles;
    let mut t = 0;
    while t + 16 <= tw {
        X::output_block::<16>(ms, t, rows);
        t += 16;
    }
    match tw - t {
        0 => {}
        1..=4 => X::output_block::<4>(ms, t, rows),
        5..=8 => X::output_block::<8>(ms, t, rows),
        _ => X::output_block::<16>(ms, t, rows),
    }
}

#[inline(always)]
fn load<const W: usize>(line: &[f32], from: usize) -> [f32; W] {
    let mut out = [0.0; W];
    out.copy_from_slice(&line[from..from + W]);
    out
}

/// `Q` vectors of W lanes, interleaved (lane l of vector j to `Q l + j`)
/// into `out`, as much of them as it holds.
#[inline(always)]
fn store_interleaved<const W: usize, const Q: usize>(out: &mut [f32], vectors: [[f32; W]; Q]) {
    let mut groups = [[0.0; Q]; W];
    for (l, group) in groups.iter_mut().enumerate() {
        for (j, g) in group.iter_mut().enumerate() {
            *g = vectors[j][l];
        }
    }
    let flat = groups.as_flattened();
    let n = out.len().min(flat.len());
    out[..n].copy_from_slice(&flat[..n]);
}

/// Padded input row `q` of `plane` into `Q` phases of `s.tw + 1` columns
/// each (phase j: padded columns `Q i + j`, zeros outside the input).
#[inline(always)]
fn split_line<const Q: usize>(plane: &[f32], s: &Shape, q: usize, line: &mut [f32]) {
    let phase = s.tw + 1;
    let Some(iy) = q.checked_sub(s.ph).filter(|&iy| iy < s.h) else {
        line.fill(0.0);
        return;
    };
    let src = &plane[iy * s.w..(iy + 1) * s.w];
    let col = |c: usize| c.checked_sub(s.pw).and_then(|ix| src.get(ix)).copied().unwrap_or(0.0);
    // The i whose Q columns all lie in the input are copied by a loop the
    // compiler widens; the rest one by one.
    let lo = s.pw.div_ceil(Q).min(phase);
    let hi = ((s.pw + s.w) / Q).clamp(lo, phase);
    for i in (0..lo).chain(hi..phase) {
        for j in 0..Q {
            line[j * phase + i] = col(Q * i + j);
        }
    }
    if hi == lo {
        return;
    }
    let from = Q * lo - s.pw;
    let src = &src[from..from + Q * (hi - lo)];
    let phases: [&mut [f32]; Q] = {
        let mut rest = &mut line[..Q * phase];
        std::array::from_fn(|_| {
            let (head, tail) = std::mem::take(&mut rest).split_at_mut(phase);
            rest = tail;
            &mut head[lo..hi]
        })
    };
    for (i, group) in src.chunks_exact(Q).enumerate() {
        for j in 0..Q {
            phases[j][i] = group[j];
        }
    }
}

/// F(2x2, 3x3).
#[derive(Clone, Copy)]
struct F2;

/// Bᵀ applied to a column (or a row) of four vectors: 0 - 2, 1 + 2,
/// 2 - 1, 1 - 3.
#[inline(always)]
fn bt4<const W: usize>([x0, x1, x2, x3]: [[f32; W]; 4]) -> [[f32; W]; 4] {
    let mut y = [[0.0; W]; 4];
    for l in 0..W {
        y[0][l] = x0[l] - x2[l];
        y[1][l] = x1[l] + x2[l];
        y[2][l] = x2[l] - x1[l];
        y[3][l] = x1[l] - x3[l];
    }
    y
}

/// Bᵀ times column `c` of W tiles' inputs (F2): tile tx's columns are
/// even[tx], odd[tx], even[tx + 1], odd[tx + 1] of each line.
#[inline(always)]
fn column4<const W: usize>(lines: &[&[f32]; 6], phase: usize, tx: usize, c: usize) -> [[f32; W]; 4] {
    let from = (c % 2) * phase + tx + c / 2;
    bt4([load(lines[0], from), load(lines[1], from), load(lines[2], from), load(lines[3], from)])
}

/// Row i of V (positions `side i..side i + side`) for the first `n` of W
/// tiles.
#[inline(always)]
fn store_row<const W: usize, const S: usize>(
    v: &mut [f32],
    (at, vx, n): (usize, usize, usize),
    i: usize,
    row: [[f32; W]; S],
) {
    for (j, lanes) in row.iter().enumerate() {
        let to = (i * S + j) * vx + at;
        if n == W {
            v[to..to + W].copy_from_slice(lanes);
        } else {
            v[to..to + n].copy_from_slice(&lanes[..n]);
        }
    }
}

/// Row a of M for W tiles (F2): its columns' (0 + 1 + 2) and (1 - 2 - 3).
#[inline(always)]
fn at_row2<const W: usize>(ms: &Products, a: usize, t: usize) -> [[f32; W]; 2] {
    let (m0, m1, m2, m3) =
        (ms.load::<W>(a * 4, t), ms.load::<W>(a * 4 + 1, t), ms.load::<W>(a * 4 + 2, t), ms.load::<W>(a * 4 + 3, t));
    let (mut e, mut o) = ([0.0; W], [0.0; W]);
    for l in 0..W {
        e[l] = m0[l] + m1[l] + m2[l];
        o[l] = m1[l] - m2[l] - m3[l];
    }
    [e, o]
}

/// `p + sign (q + r)` of three rows' sums, for both columns.
#[inline(always)]
fn at_column2<const W: usize>([p, q, r]: [[[f32; W]; 2]; 3], sign: f32) -> [[f32; W]; 2] {
    let mut out = [[0.0; W]; 2];
    for l in 0..W {
        out[0][l] = p[0][l] + sign * (q[0][l] + r[0][l]);
        out[1][l] = p[1][l] + sign * (q[1][l] + r[1][l]);
    }
    out
}

impl Transforms for F2 {
    const M: usize = 2;

    #[inline(always)]
    fn input_line(plane: &[f32], s: &Shape, q: usize, line: &mut [f32]) {
        split_line::<2>(plane, s, q, line);
    }

    #[inline(always)]
    fn input_block<const W: usize>(
        lines: &[&[f32]; 6],
        phase: usize,
        tx: usize,
        v: &mut [f32],
        at: usize,
        vx: usize,
        n: usize,
    ) {
        let to = (at, vx, n);
        // a_c[i]: row i of Bᵀ d in column c.
        let a0 = column4::<W>(lines, phase, tx, 0);
        let a1 = column4::<W>(lines, phase, tx, 1);
        let a2 = column4::<W>(lines, phase, tx, 2);
        let a3 = column4::<W>(lines, phase, tx, 3);
        store_row(v, to, 0, bt4([a0[0], a1[0], a2[0], a3[0]]));
        store_row(v, to, 1, bt4([a0[1], a1[1], a2[1], a3[1]]));
        store_row(v, to, 2, bt4([a0[2], a1[2], a2[2], a3[2]]));
        store_row(v, to, 3, bt4([a0[3], a1[3], a2[3], a3[3]]));
    }

    #[inline(always)]
    fn output_block<const W: usize>(ms: &Products, t: usize, rows: &mut [Option<&mut [f32]>; 4]) {
        let (r0, r1, r2, r3) =
            (at_row2::<W>(ms, 0, t), at_row2::<W>(ms, 1, t), at_row2::<W>(ms, 2, t), at_row2::<W>(ms, 3, t));
        if let Some(out) = rows[0].as_deref_mut() {
            store_interleaved(&mut out[2 * t..], at_column2([r0, r1, r2], 1.0));
        }
        if let Some(out) = rows[1].as_deref_mut() {
            store_interleaved(&mut out[2 * t..], at_column2([r1, r2, r3], -1.0));
        }
    }
}

/// F(4x4, 3x3).
#[derive(Clone, Copy)]
struct F4;

/// Bᵀ (F4) applied to a column (or a row) of six vectors, sharing the
/// sums its rows have in common.
#[inline(always)]
fn bt6<const W: usize>([x0, x1, x2, x3, x4, x5]: [[f32; W]; 6]) -> [[f32; W]; 6] {
    let mut y = [[0.0; W]; 6];
    for l in 0..W {
        let (a, b) = (x4[l] - 4.0 * x2[l], x3[l] - 4.0 * x1[l]);
        let (c, d) = (x4[l] - x2[l], 2.0 * (x3[l] - x1[l]));
        y[0][l] = 4.0 * x0[l] - 5.0 * x2[l] + x4[l];
        y[1][l] = a + b;
        y[2][l] = a - b;
        y[3][l] = c + d;
        y[4][l] = c - d;
        y[5][l] = 4.0 * x1[l] - 5.0 * x3[l] + x5[l];
    }
    y
}

/// Bᵀ times column `c` of W tiles' inputs (F4): tile tx's column c is
/// phase `c % 4` at `tx + c / 4` of each line.
#[inline(always)]
fn column6<const W: usize>(lines: &[&[f32]; 6], phase: usize, tx: usize, c: usize) -> [[f32; W]; 6] {
    let from = (c % 4) * phase + tx + c / 4;
    bt6([
        load(lines[0], from),
        load(lines[1], from),
        load(lines[2], from),
        load(lines[3], from),
        load(lines[4], from),
        load(lines[5], from),
    ])
}

/// Aᵀ (F4) applied to six vectors: the four outputs along a side.
#[inline(always)]
fn at6<const W: usize>([m0, m1, m2, m3, m4, m5]: [[f32; W]; 6]) -> [[f32; W]; 4] {
    let mut y = [[0.0; W]; 4];
    for l in 0..W {
        let (a, b) = (m1[l] + m2[l], m1[l] - m2[l]);
        let (c, d) = (m3[l] + m4[l], m3[l] - m4[l]);
        y[0][l] = m0[l] + a + c;
        y[1][l] = b + 2.0 * d;
        y[2][l] = a + 4.0 * c;
        y[3][l] = b + 8.0 * d + m5[l];
    }
    y
}

/// Row a of M for W tiles (F4), Aᵀ applied along it.
#[inline(always)]
fn at_row4<const W: usize>(ms: &Products, a: usize, t: usize) -> [[f32; W]; 4] {
    let m = a * 6;
    at6([ms.load(m, t), ms.load(m + 1, t), ms.load(m + 2, t), ms.load(m + 3, t), ms.load(m + 4, t), ms.load(m + 5, t)])
}

impl Transforms for F4 {
    const M: usize = 4;

    #[inline(always)]
    fn input_line(plane: &[f32], s: &Shape, q: usize, line: &mut [f32]) {
        split_line::<4>(plane, s, q, line);
    }

    #[inline(always)]
    fn input_block<const W: usize>(
        lines: &[&[f32]; 6],
        phase: usize,
        tx: usize,
        v: &mut [f32],
        at: usize,
        vx: usize,
        n: usize,
    ) {
        let to = (at, vx, n);
        // a_c[i]: row i of Bᵀ d in column c.
        let a0 = column6::<W>(lines, phase, tx, 0);
        let a1 = column6::<W>(lines, phase, tx, 1);
        let a2 = column6::<W>(lines, phase, tx, 2);
        let a3 = column6::<W>(lines, phase, tx, 3);
        let a4 = column6::<W>(lines, phase, tx, 4);
        let a5 = column6::<W>(lines, phase, tx, 5);
        store_row(v, to, 0, bt6([a0[0], a1[0], a2[0], a3[0], a4[0], a5[0]]));
        store_row(v, to, 1, bt6([a0[1], a1[1], a2[1], a3[1], a4[1], a5[1]]));
        store_row(v, to, 2, bt6([a0[2], a1[2], a2[2], a3[2], a4[2], a5[2]]));
        store_row(v, to, 3, bt6([a0[3], a1[3], a2[3], a3[3], a4[3], a5[3]]));
        store_row(v, to, 4, bt6([a0[4], a1[4], a2[4], a3[4], a4[4], a5[4]]));
        store_row(v, to, 5, bt6([a0[5], a1[5], a2[5], a3[5], a4[5], a5[5]]));
    }

    #[inline(always)]
    fn output_block<const W: usize>(ms: &Products, t: usize, rows: &mut [Option<&mut [f32]>; 4]) {
        // r_a: row a of M with Aᵀ applied along it; Aᵀ down each of the
        // four columns then gives the tile's rows.
        let (r0, r1, r2, r3, r4, r5) = (
            at_row4::<W>(ms, 0, t),
            at_row4::<W>(ms, 1, t),
            at_row4::<W>(ms, 2, t),
            at_row4::<W>(ms, 3, t),
            at_row4::<W>(ms, 4, t),
            at_row4::<W>(ms, 5, t),
        );
        let c0 = at6([r0[0], r1[0], r2[0], r3[0], r4[0], r5[0]]);
        let c1 = at6([r0[1], r1[1], r2[1], r3[1], r4[1], r5[1]]);
        let c2 = at6([r0[2], r1[2], r2[2], r3[2], r4[2], r5[2]]);
        let c3 = at6([r0[3], r1[3], r2[3], r3[3], r4[3], r5[3]]);
        for (i, row) in rows.iter_mut().enumerate() {
            if let Some(out) = row.as_deref_mut() {
                store_interleaved(&mut out[4 * t..], [c0[i], c1[i], c2[i], c3[i]]);
            }
        }
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
            // F4's tile rows of 35 and 17, and outputs 1, 2 and 3 past a
            // whole tile on each side.
            (16, 16, 7, 140, 1),
            (16, 32, 11, 66, 1),
            (24, 16, 10, 7, 1),
        ];
        for (c, k, h, w, p) in cases {
            let (x, f) = (values(c * h * w, 1), values(k * c * 9, 2));
            let want = direct(&x, (c, h, w), (p, p), &f, k);
            let (oh, ow) = (h + 2 * p - 2, w + 2 * p - 2);
            let scale = want.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
            // F4's larger transform entries (up to 8, and 1/24) lose more: 1e-5
            // of the largest output measured on these cases, F2's 1e-6.
            for (tile, tolerance) in [(Tile::F2, 1e-5), (Tile::F4, 4e-5)] {
                let u = transform_filters(&f, k, c, tile);
                let runs =
                    Isa::available().into_iter().flat_map(|isa| [(isa, 1), (isa, 2 + (isa == Isa::Portable) as usize)]);
                for (isa, threads) in runs {
                    let mut y = vec![f32::NAN; k * oh * ow];
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                    pool.install(|| conv(isa, tile, &x, (c, h, w), (p, p), &u, k, &mut y, (oh, ow), threads));
                    for (i, (a, b)) in y.iter().zip(&want).enumerate() {
                        assert!(
                            (a - b).abs() <= tolerance * scale,
                            "{} c {c} k {k} {h}x{w} pad {p}, {isa:?}, {threads} threads, at {i}: {a} vs {b}",
                            tile.name()
                        );
                    }
                }
            }
        }
    }

    /// Which 3x3 layers run here, and as which: resnet50's 14x14 ones (256
    /// channels, 49 tiles) as F2, its 28x28 and 56x56 ones as F4, DenseNet's
    /// (32 outputs) as F2, not a 7x7 one, nor one with few input channels,
    /// nor a strided one.
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
        let (f2, f4) = (Some(Tile::F2), Some(Tile::F4));
        assert_eq!(suits(&conv(256, 256), Some((14, 14))), f2, "16 tiles of F4's, 49 of F2's");
        assert_eq!(suits(&conv(64, 64), Some((56, 56))), f4);
        assert_eq!(suits(&conv(128, 128), Some((28, 28))), f4);
        assert_eq!(suits(&conv(128, 128), None), f4, "an undeclared size");
        assert_eq!(suits(&conv(128, 32), Some((56, 56))), f2, "too few outputs for F4");
        assert_eq!(suits(&conv(128, 32), Some((28, 28))), f2);
        assert_eq!(suits(&conv(128, 32), None), f2);
        assert_eq!(suits(&conv(128, 32), Some((14, 14))), f2);
        assert_eq!(suits(&conv(128, 32), Some((7, 7))), None);
        assert_eq!(suits(&conv(512, 512), Some((7, 7))), None);
        assert_eq!(suits(&conv(8, 64), Some((56, 56))), None, "too few input channels");
        assert_eq!(suits(&Conv2d { stride: [2, 2], ..conv(64, 64) }, Some((28, 28))), None);
    }

    #[test]
    fn the_filter_transform_of_a_centre_tap_is_its_outer_product() {
        // g = e_centre: G g is G's middle column, and U that vector's outer
        // product with itself.
        let mut f = vec![0.0; 9];
        f[4] = 1.0;
        let columns: [(Tile, &[f64]); 2] = [
            (Tile::F2, &[0.0, 0.5, -0.5, 0.0]),
            (Tile::F4, &[0.0, -1.0 / 6.0, 1.0 / 6.0, 1.0 / 12.0, -1.0 / 12.0, 0.0]),
        ];
        for (tile, col) in columns {
            let u = transform_filters(&f, 1, 1, tile);
            let side = col.len();
            assert_eq!(u.len(), side * side * MR);
            for r in 0..side {
                for s in 0..side {
                    // One panel of MR channels per position, channel 0 first.
                    assert_eq!(u[(r * side + s) * MR], (col[r] * col[s]) as f32, "{} at {r}, {s}", tile.name());
                }
            }
        }
    }
}
