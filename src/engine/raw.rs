//! Every `unsafe` of the engine, behind safe functions that check what the
//! unsafe code relies on.
//!
//! Invariants:
//! - JIT addresses ([`FnAddr`]) come from a [`super::jit::Compiled`] that the
//!   calling engine owns, so the code is mapped while it runs. Kernels were
//!   built from the [`KernelSpec`] passed beside them: called on one plane,
//!   they read `len` values of `src` and of each tensor operand and one value
//!   of each per-channel operand, and write `len` values of `dst`, nothing else. The shape check
//!   reads 4 input dims and writes `slots` values.
//! - Every length is checked here before a pointer crosses into JIT code or
//!   the GEMM, so a planning bug is a panic, never an out-of-bounds access.
//! - Slices handed out by [`split`] are disjoint from the mutable one.

use std::ops::Range;

use super::jit::FnAddr;
use super::kernels::{KernelSpec, OperandKind};

/// Runs a compiled shape check; `Err(check index)` when one fails.
pub fn shape_check(f: FnAddr, input: [i64; 4], out: &mut [i64], slots: usize) -> Result<(), u32> {
    assert!(out.len() >= slots, "the dims buffer holds every slot");
    // SAFETY: `f` is a live shape-check function of signature
    // fn(*const i64, *mut i64) -> i64 that writes `slots` values (invariant above).
    let code = unsafe {
        let f: extern "C" fn(*const i64, *mut i64) -> i64 = std::mem::transmute(f.0);
        f(input.as_ptr(), out.as_mut_ptr())
    };
    if code == 0 { Ok(()) } else { Err((code - 1) as u32) }
}

/// Runs a compiled fused kernel over `channels` planes of `plane_len` values.
/// `src` `None` means in place.
pub fn kernel(
    f: FnAddr,
    spec: &KernelSpec,
    dst: &mut [f32],
    src: Option<&[f32]>,
    operands: &[&[f32]],
    channels: usize,
    plane_len: usize,
) {
    let len = channels * plane_len;
    assert!(dst.len() >= len, "kernel output is large enough");
    if let Some(s) = src {
        assert!(s.len() >= len, "kernel input is large enough");
    }
    let kinds = spec.operand_kinds();
    assert_eq!(kinds.len(), operands.len(), "one operand per stage input");
    for (k, op) in kinds.iter().zip(operands) {
        let need = if *k == OperandKind::PerChannel { channels } else { len };
        assert!(op.len() >= need, "kernel operand is large enough");
    }
    let dst_ptr = dst.as_mut_ptr();
    let src_ptr = src.map_or(dst_ptr as *const f32, |s| s.as_ptr());
    let mut ptrs: Vec<*const f32> = operands.iter().map(|o| o.as_ptr()).collect();
    // SAFETY: lengths checked above; for plane `c` the kernel touches
    // `plane_len` values at offset `c * plane_len` of `dst`, `src` and each
    // tensor operand, and value `c` of each per-channel one (invariant above),
    // all inside the checked lengths; `src` either is `dst` or a slice that
    // cannot alias the `&mut` one.
    unsafe {
        let f: extern "C" fn(*mut f32, *const f32, *const *const f32, i64) = std::mem::transmute(f.0);
        for c in 0..channels {
            for ((p, o), k) in ptrs.iter_mut().zip(operands).zip(&kinds) {
                *p = o.as_ptr().add(if *k == OperandKind::PerChannel { c } else { c * plane_len });
            }
            let at = c * plane_len;
            f(dst_ptr.add(at), src_ptr.add(at), ptrs.as_ptr(), plane_len as i64);
        }
    }
}

fn extent(rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
    if rows == 0 || cols == 0 { 0 } else { (rows - 1) * rs + (cols - 1) * cs + 1 }
}

/// `dst = lhs * rhs` (m x k times k x n), with the `gemm` crate.
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    dst: &mut [f32],
    (dst_rs, dst_cs): (usize, usize),
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    (rhs_rs, rhs_cs): (usize, usize),
    (m, n, k): (usize, usize, usize),
    threads: usize,
) {
    assert!(dst.len() >= extent(m, n, dst_rs, dst_cs), "gemm output in bounds");
    assert!(lhs.len() >= extent(m, k, lhs_rs, lhs_cs), "gemm lhs in bounds");
    assert!(rhs.len() >= extent(k, n, rhs_rs, rhs_cs), "gemm rhs in bounds");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        for i in 0..m {
            for j in 0..n {
                dst[i * dst_rs + j * dst_cs] = 0.0;
            }
        }
        return;
    }
    let par = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    // SAFETY: every index the strides reach is in bounds (checked above);
    // `dst` is a unique borrow, so it does not alias `lhs` or `rhs`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_cs as isize,
            dst_rs as isize,
            false,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

/// Borrows `write` mutably and each of `reads` shared from one arena. Reads
/// may overlap each other but not the write range.
pub fn split<'a>(arena: &'a mut [f32], write: Range<usize>, reads: &[Range<usize>]) -> (&'a mut [f32], Vec<&'a [f32]>) {
    assert!(write.start <= write.end && write.end <= arena.len(), "write range in the arena");
    for r in reads {
        assert!(r.start <= r.end && r.end <= arena.len(), "read range in the arena");
        assert!(r.end <= write.start || r.start >= write.end || r.is_empty(), "reads do not overlap the write");
    }
    let base = arena.as_mut_ptr();
    // SAFETY: all ranges are in bounds, and the mutable range is disjoint
    // from every shared one (checked above), so no byte is both written
    // through the `&mut` and read through a `&` for the lifetime `'a`, which
    // is the arena's unique borrow.
    unsafe {
        let w = std::slice::from_raw_parts_mut(base.add(write.start), write.len());
        let rs = reads.iter().map(|r| std::slice::from_raw_parts(base.add(r.start) as *const f32, r.len())).collect();
        (w, rs)
    }
}

/// The machine's f32 FMA peak on one core, in GFLOP/s: independent FMA
/// chains in the widest vectors the CPU has, for `seconds`.
pub fn fma_peak_gflops(seconds: f64) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above).
            return unsafe { peak::avx512(seconds) };
        }
        if std::is_x86_feature_detected!("fma") && std::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU has AVX and FMA (checked just above).
            return unsafe { peak::avx2(seconds) };
        }
    }
    peak::portable(seconds)
}

/// The peak of `threads` cores at once: [`fma_peak_gflops`] on each, summed.
pub fn fma_peak_gflops_on(threads: usize, seconds: f64) -> f64 {
    std::thread::scope(|s| {
        let runs: Vec<_> = (0..threads.max(1)).map(|_| s.spawn(move || fma_peak_gflops(seconds))).collect();
        runs.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
    })
}

mod peak {
    use std::hint::black_box;
    use std::time::Instant;

    /// Calls `rounds(10_000)` until `seconds` pass; returns GFLOP/s given
    /// the flops of one round (an FMA is two flops).
    fn time(seconds: f64, flops_per_round: u64, mut rounds: impl FnMut(u32)) -> f64 {
        let start = Instant::now();
        let mut done = 0u64;
        while start.elapsed().as_secs_f64() < seconds {
            rounds(10_000);
            done += 10_000;
        }
        (done * flops_per_round) as f64 / start.elapsed().as_secs_f64() / 1e9
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,fma")]
    fn rounds512(n: u32, acc: &mut [std::arch::x86_64::__m512; 12]) {
        use std::arch::x86_64::*;
        let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
        let mut c = *acc;
        for _ in 0..n {
            for v in c.iter_mut() {
                *v = _mm512_fmadd_ps(*v, a, b);
            }
        }
        *acc = c;
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,fma")]
    pub fn avx512(seconds: f64) -> f64 {
        let mut acc = [std::arch::x86_64::_mm512_set1_ps(1.0); 12];
        let g = time(seconds, 12 * 16 * 2, |n| rounds512(n, &mut acc));
        black_box(&acc);
        g
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn rounds256(n: u32, acc: &mut [std::arch::x86_64::__m256; 12]) {
        use std::arch::x86_64::*;
        let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
        let mut c = *acc;
        for _ in 0..n {
            for v in c.iter_mut() {
                *v = _mm256_fmadd_ps(*v, a, b);
            }
        }
        *acc = c;
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    pub fn avx2(seconds: f64) -> f64 {
        let mut acc = [std::arch::x86_64::_mm256_set1_ps(1.0); 12];
        let g = time(seconds, 12 * 8 * 2, |n| rounds256(n, &mut acc));
        black_box(&acc);
        g
    }

    pub fn portable(seconds: f64) -> f64 {
        let mut acc = [1.0f32; 16];
        let g = time(seconds, 16 * 2, |n| {
            for _ in 0..n {
                for c in acc.iter_mut() {
                    *c = c.mul_add(black_box(0.999_999), 1e-7);
                }
            }
        });
        black_box(&acc);
        g
    }
}

/// `dst = sum over taps (a, b) of lhs[a..] * rhs[b..]`: one m x k by k x n
/// product per tap, all into the same m x n output (row-major, columns
/// contiguous), with `lhs` strided as given and `rhs` rows `rhs_rs` apart.
/// A convolution with stride 1 is such a sum over its kernel taps, each
/// reading the (padded) input shifted; a plain product is one tap (0, 0).
/// Columns are split into `parts` blocks of one-thread GEMMs on the rayon
/// pool (each block runs its taps in turn), as whole 16-column groups.
#[allow(clippy::too_many_arguments)]
pub fn gemm_taps(
    dst: &mut [f32],
    dst_rs: usize,
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    rhs_rs: usize,
    taps: &[(usize, usize)],
    (m, n, k): (usize, usize, usize),
    parts: usize,
) {
    assert!(dst.len() >= extent(m, n, dst_rs, 1), "gemm output in bounds");
    for &(a, b) in taps {
        assert!(lhs.len() >= a + extent(m, k, lhs_rs, lhs_cs), "gemm lhs in bounds");
        assert!(rhs.len() >= b + extent(k, n, rhs_rs, 1), "gemm rhs in bounds");
    }
    if m == 0 || n == 0 || k == 0 || taps.is_empty() {
        dst[..extent(m, n, dst_rs, 1)].fill(0.0);
        return;
    }
    let block = n.div_ceil(parts.max(1)).div_ceil(16) * 16;
    let starts: Vec<usize> = (0..n).step_by(block).collect();
    let dst_addr = dst.as_mut_ptr() as usize;
    let run = |j0: usize| {
        let cols = block.min(n - j0);
        for (t, &(a, b)) in taps.iter().enumerate() {
            // SAFETY: every index is in bounds (checked above for each tap);
            // blocks cover disjoint columns, so no two tasks write the same
            // element, and `dst` is borrowed uniquely for the whole call.
            unsafe {
                gemm::gemm(
                    m,
                    cols,
                    k,
                    (dst_addr as *mut f32).add(j0),
                    1,
                    dst_rs as isize,
                    t > 0,
                    lhs.as_ptr().add(a),
                    lhs_cs as isize,
                    lhs_rs as isize,
                    rhs.as_ptr().add(b + j0),
                    1,
                    rhs_rs as isize,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        }
    };
    use rayon::prelude::*;
    if starts.len() > 1 {
        starts.par_iter().for_each(|&j0| run(j0));
    } else {
        run(0);
    }
}

/// A box of a `[planes][rows][row_len]` tensor (a range of planes, of rows
/// and of columns) that one task of [`par_rects`] may write.
pub struct Rect<'a> {
    base: *mut f32,
    planes: Range<usize>,
    rows: Range<usize>,
    cols: Range<usize>,
    row_len: usize,
    plane_len: usize,
    _tensor: std::marker::PhantomData<&'a mut [f32]>,
}

impl Rect<'_> {
    pub fn planes(&self) -> Range<usize> {
        self.planes.clone()
    }
    pub fn rows(&self) -> Range<usize> {
        self.rows.clone()
    }
    pub fn cols(&self) -> Range<usize> {
        self.cols.clone()
    }
    /// This box's part of row `r` of plane `p` (its columns); `p` and `r`
    /// must lie in the box.
    pub fn row(&mut self, p: usize, r: usize) -> &mut [f32] {
        let [row] = self.rows_from::<1>(p, r);
        row.expect("a row of this box")
    }
    /// Rows `r..r + N` of plane `p`, all borrowed at once; `p` and `r` must
    /// lie in the box, and a row past its end is `None`.
    pub fn rows_from<const N: usize>(&mut self, p: usize, r: usize) -> [Option<&mut [f32]>; N] {
        assert!(self.planes.contains(&p) && self.rows.contains(&r), "a row of this box");
        let at = |r: usize| p * self.plane_len + r * self.row_len + self.cols.start;
        let (base, len, end) = (self.base, self.cols.len(), self.rows.end);
        // SAFETY: the planes, rows and columns lie in the tensor (checked
        // here and in `par_rects`), and no other box of the same call covers
        // these values; distinct rows of one plane do not overlap (a row's
        // columns lie within `row_len`); `&mut self` keeps the slices unique
        // within this task.
        std::array::from_fn(|i| {
            (r + i < end).then(|| unsafe { std::slice::from_raw_parts_mut(base.add(at(r + i)), len) })
        })
    }
}

/// Runs `f` in parallel on each box of the grid that the cuts (ascending,
/// from 0 to the axis' length) cut the tensor `y` into: for outputs whose
/// tasks own parts of many rows, which `par_chunks_mut` cannot hand out.
pub fn par_rects(
    y: &mut [f32],
    (planes, rows, row_len): (usize, usize, usize),
    [plane_cuts, row_cuts, col_cuts]: [&[usize]; 3],
    f: impl Fn(&mut Rect) + Sync,
) {
    assert!(y.len() >= planes * rows * row_len, "the tensor holds every row");
    for (cuts, end) in [(plane_cuts, planes), (row_cuts, rows), (col_cuts, row_len)] {
        assert!(cuts.first() == Some(&0) && cuts.last() == Some(&end), "cuts span the axis");
        assert!(cuts.windows(2).all(|w| w[0] <= w[1]), "cuts ascend");
    }
    let addr = y.as_mut_ptr() as usize;
    let plane_len = rows * row_len;
    let ranges = |cuts: &[usize]| cuts.windows(2).map(|w| w[0]..w[1]).filter(|r| !r.is_empty()).collect::<Vec<_>>();
    let (ps, rs, cs) = (ranges(plane_cuts), ranges(row_cuts), ranges(col_cuts));
    let mut boxes = Vec::with_capacity(ps.len() * rs.len() * cs.len());
    for p in &ps {
        for r in &rs {
            for c in &cs {
                boxes.push((p.clone(), r.clone(), c.clone()));
            }
        }
    }
    let run = |(planes, rows, cols)| {
        let mut rect =
            Rect { base: addr as *mut f32, planes, rows, cols, row_len, plane_len, _tensor: std::marker::PhantomData };
        f(&mut rect);
    };
    use rayon::prelude::*;
    if boxes.len() == 1 {
        boxes.into_iter().for_each(run);
    } else {
        boxes.into_par_iter().for_each(run);
    }
}

/// Rows of a packed-A panel: every register tile is MR rows high.
pub const MR: usize = 6;
/// Columns of a packed-B panel on the widest tile ([`Isa::nr`]): what
/// scratch sizes reckon with, whatever the CPU.
pub const NR_MAX: usize = 32;

/// The widest instruction set the engine's own kernels may use (an upper
/// bound: a CPU without it gets the best it has).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kernels {
    /// Plain Rust (for testing the path other CPUs take).
    Portable,
    /// AVX2 and FMA: 256-bit vectors.
    Avx2,
    /// AVX-512F: 512-bit vectors.
    Avx512,
}

/// The instruction set the engine's own kernels use. The vector variants
/// carry a [`CpuChecked`] token that only [`Isa::detect`] makes, so safe
/// code elsewhere cannot claim features the CPU lacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F (with FMA): a 6 x 32 tile in twelve zmm accumulators.
    Avx512(CpuChecked),
    /// AVX2 and FMA: a 6 x 16 tile in twelve ymm accumulators.
    Avx2Fma(CpuChecked),
    /// Plain Rust, on every CPU.
    Portable,
}

/// Proof that [`Isa::detect`] checked the CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuChecked(());

impl Isa {
    /// The best this CPU runs, up to `limit`.
    pub fn detect(limit: Kernels) -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            let fma = std::is_x86_feature_detected!("fma");
            if limit >= Kernels::Avx512 && fma && std::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512(CpuChecked(()));
            }
            if limit >= Kernels::Avx2 && fma && std::is_x86_feature_detected!("avx2") {
                return Isa::Avx2Fma(CpuChecked(()));
            }
        }
        let _ = limit;
        Isa::Portable
    }

    /// Every instruction set this CPU runs, widest first: what the tests
    /// try each kernel on.
    pub fn available() -> Vec<Isa> {
        let mut all = vec![Isa::detect(Kernels::Avx512), Isa::detect(Kernels::Avx2), Isa::Portable];
        all.dedup();
        all
    }

    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512(_) => "AVX-512",
            Isa::Avx2Fma(_) => "AVX2",
            Isa::Portable => "portable",
        }
    }

    /// Columns of this instruction set's register tile (and so of a packed-B panel).
    pub fn nr(self) -> usize {
        match self {
            Isa::Avx512(_) => 32,
            Isa::Avx2Fma(_) | Isa::Portable => 16,
        }
    }
}

/// Work whose plain-Rust loops gain from wider vectors: [`vectorised`]
/// compiles it once per instruction set. `run` must be `#[inline(always)]`,
/// as must every function of the engine's that it calls and that should
/// widen: only code inlined into the dispatching function gets its features.
pub trait Vectorised {
    fn run(self);
}

/// Runs `work` compiled for `isa` (its loops in 512- or 256-bit vectors
/// where the compiler vectorises them, instead of the baseline's 128).
pub fn vectorised(isa: Isa, work: impl Vectorised) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the token in `Isa::Avx512` proves the CPU has AVX-512F and
        // FMA (only `detect` makes it); `work` is safe code, so enabling the
        // features is all the unsafety there is.
        Isa::Avx512(_) => unsafe { run_avx512(work) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, for AVX2 and FMA.
        Isa::Avx2Fma(_) => unsafe { run_avx2(work) },
        _ => work.run(),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn run_avx512(work: impl Vectorised) {
    work.run()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2(work: impl Vectorised) {
    work.run()
}

/// One register tile: `c[r * c_rs + j] (+)= Σ_p a[p * MR + r] * b[p * nr + j]`
/// for every r < MR and j < nr = `isa.nr()`, with `a` a packed panel of MR
/// rows and `b` one of nr columns, both `kc` deep. `accumulate` adds to `c`;
/// otherwise `c` is overwritten.
pub fn tile(isa: Isa, kc: usize, a: &[f32], b: &[f32], c: &mut [f32], c_rs: usize, accumulate: bool) {
    let nr = isa.nr();
    assert!(a.len() >= kc * MR && b.len() >= kc * nr, "packed panels hold kc steps");
    assert!(c_rs >= nr && c.len() >= (MR - 1) * c_rs + nr, "the tile lies in c");
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::Avx512` carries a `CpuChecked`, which only `detect`
        // makes after checking the CPU for AVX-512F and FMA; lengths are
        // checked above for nr = 32, and the kernel reads kc * MR of `a`,
        // kc * 32 of `b`, and touches MR rows of 32 in `c`.
        Isa::Avx512(_) => unsafe { tile_avx512(kc, a.as_ptr(), b.as_ptr(), c.as_mut_ptr(), c_rs, accumulate) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above, for AVX2 and FMA and nr = 16.
        Isa::Avx2Fma(_) => unsafe { tile_avx2(kc, a.as_ptr(), b.as_ptr(), c.as_mut_ptr(), c_rs, accumulate) },
        _ => tile_portable(kc, a, b, c, c_rs, accumulate),
    }
}

fn tile_portable(kc: usize, a: &[f32], b: &[f32], c: &mut [f32], c_rs: usize, accumulate: bool) {
    const NR: usize = 16;
    let mut acc = [[0f32; NR]; MR];
    for (ap, bp) in a[..kc * MR].chunks_exact(MR).zip(b[..kc * NR].chunks_exact(NR)) {
        for (row, &av) in acc.iter_mut().zip(ap) {
            // Not `mul_add`: without the FMA feature that is a call into libm
            // per element, 20-50x slower; a product and a sum vectorise.
            for (s, &bv) in row.iter_mut().zip(bp) {
                *s += av * bv;
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        let out = &mut c[r * c_rs..r * c_rs + NR];
        if accumulate {
            out.iter_mut().zip(row).for_each(|(o, v)| *o += v);
        } else {
            out.copy_from_slice(row);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_avx2(kc: usize, a: *const f32, b: *const f32, c: *mut f32, c_rs: usize, accumulate: bool) {
    use std::arch::x86_64::*;
    const NR: usize = 16;
    // SAFETY (whole body): the caller checked every offset read or written.
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); 2]; MR];
        for p in 0..kc {
            let b0 = _mm256_loadu_ps(b.add(p * NR));
            let b1 = _mm256_loadu_ps(b.add(p * NR + 8));
            for (r, row) in acc.iter_mut().enumerate() {
                let av = _mm256_broadcast_ss(&*a.add(p * MR + r));
                row[0] = _mm256_fmadd_ps(av, b0, row[0]);
                row[1] = _mm256_fmadd_ps(av, b1, row[1]);
            }
        }
        for (r, row) in acc.iter().enumerate() {
            let out = c.add(r * c_rs);
            for (h, v) in row.iter().enumerate() {
                let at = out.add(8 * h);
                let v = if accumulate { _mm256_add_ps(*v, _mm256_loadu_ps(at)) } else { *v };
                _mm256_storeu_ps(at, v);
            }
        }
    }
}

/// Floats ahead of the current step that [`tile_avx512`] prefetches of its
/// filter panel.
#[cfg(target_arch = "x86_64")]
const PREFETCH: usize = 512;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn tile_avx512(kc: usize, a: *const f32, b: *const f32, c: *mut f32, c_rs: usize, accumulate: bool) {
    use std::arch::x86_64::*;
    const NR: usize = 32;
    // SAFETY (whole body): the caller checked every offset read or written.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); 2]; MR];
        for p in 0..kc {
            // The filter panels stream from L3 (Winograd's 14x14 layers:
            // 4 MiB of them, each used once per thread); ahead of the
            // hardware prefetcher, which stops at page ends (2 KiB ahead:
            // resnet18 about 5% faster, resnet50 about 2%, on Zen 5).
            _mm_prefetch::<_MM_HINT_T0>(a.wrapping_add(p * MR + PREFETCH) as *const i8);
            let b0 = _mm512_loadu_ps(b.add(p * NR));
            let b1 = _mm512_loadu_ps(b.add(p * NR + 16));
            for (r, row) in acc.iter_mut().enumerate() {
                let av = _mm512_set1_ps(*a.add(p * MR + r));
                row[0] = _mm512_fmadd_ps(av, b0, row[0]);
                row[1] = _mm512_fmadd_ps(av, b1, row[1]);
            }
        }
        for (r, row) in acc.iter().enumerate() {
            let out = c.add(r * c_rs);
            for (h, v) in row.iter().enumerate() {
                let at = out.add(16 * h);
                let v = if accumulate { _mm512_add_ps(*v, _mm512_loadu_ps(at)) } else { *v };
                _mm512_storeu_ps(at, v);
            }
        }
    }
}

/// Floats a prepared input needs past its last row: [`direct_row`] reads
/// whole vectors from each tap's start.
pub const DIRECT_SLACK: usize = 64;

/// The most output channels [`direct_row`] computes at once.
pub const DIRECT_OB: usize = 16;

/// One output row of a direct convolution for `ob` (1 to [`DIRECT_OB`])
/// output channels, planes `p0..p0 + ob` of the box at row `r`, with
/// AVX-512: `y[p0 + q][r][ox] = Σ_i Σ_t w[(i * taps.len() + t) * ob + q] *
/// x[i * x_plane + base + taps[t] + ox]` for each of the box's columns ox:
/// the block's weights for one input and tap side by side, so that one
/// pointer reaches them all. The input is prepared so that an output row's
/// tap reads consecutive values (padded, and for stride 2 split into even
/// and odd columns). `None` where the CPU's kernels are not AVX-512 (the
/// caller takes another way).
#[allow(clippy::too_many_arguments)]
pub fn direct_row(
    isa: Isa,
    x: &[f32],
    (cin, x_plane, base): (usize, usize, usize),
    taps: &[usize],
    w: &[f32],
    ob: usize,
    rect: &mut Rect,
    (p0, r): (usize, usize),
) -> Option<()> {
    let ow = rect.cols.len();
    assert!((1..=DIRECT_OB).contains(&ob) && cin > 0 && ow > 0, "a row of 1 to 16 outputs");
    assert!(rect.planes.start <= p0 && p0 + ob <= rect.planes.end && rect.rows.contains(&r), "rows of this box");
    let reach = taps.iter().max().copied().unwrap_or(0);
    // Every vector load lies in `x`: the last channel's furthest tap, at
    // the row's last column rounded up to whole vectors.
    assert!(x.len() >= (cin - 1) * x_plane + base + reach + ow.div_ceil(16) * 16, "direct conv input in bounds");
    assert!(w.len() >= ob * cin * taps.len(), "direct conv weights in bounds");
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the token proves AVX-512F and FMA; every offset the kernel
        // reads is checked above (loads of whole vectors up to the last
        // column rounded up); it writes, masked to the box's columns, row r
        // of planes p0..p0 + ob, which lie in the box (checked above), and
        // no other task of `par_rects` covers them.
        Isa::Avx512(_) => unsafe {
            let y = rect.base.add(p0 * rect.plane_len + r * rect.row_len + rect.cols.start);
            let (y_plane, ws) = (rect.plane_len, ob);
            let args = DirectArgs { x: x.as_ptr(), cin, x_plane, base, taps, w: w.as_ptr(), ws, y, y_plane, ow };
            direct_avx512(&args, ob);
            Some(())
        },
        _ => None,
    }
}

#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct DirectArgs<'a> {
    x: *const f32,
    cin: usize,
    x_plane: usize,
    base: usize,
    taps: &'a [usize],
    w: *const f32,
    /// Floats from one (input, tap)'s weights to the next's.
    ws: usize,
    y: *mut f32,
    y_plane: usize,
    ow: usize,
}

/// Passes of up to 64 columns (four vectors); in each, outputs in blocks
/// of 16, 8, 4, 2 or 1, as many as keep the accumulators (block x vectors)
/// to 16 registers: enough chains to cover the FMA's latency when a row is
/// one vector wide (ResNeXt's 14x14 and 7x7 stages).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn direct_avx512(a: &DirectArgs, ob: usize) {
    let mut c0 = 0;
    while c0 < a.ow {
        let nx = (a.ow - c0).div_ceil(16).min(4);
        let cap = if nx == 1 {
            16
        } else if nx == 2 {
            8
        } else {
            4
        };
        let mut q = 0;
        while q < ob {
            let take = (ob - q).min(cap);
            let take = 1 << take.ilog2();
            // SAFETY: outputs q..q + take of the `ob` checked, columns from c0.
            unsafe {
                let b = DirectArgs { w: a.w.add(q), y: a.y.add(q * a.y_plane), ..*a };
                match (take, nx) {
                    (16, _) => direct_pass::<16, 1>(&b, c0),
                    (8, 1) => direct_pass::<8, 1>(&b, c0),
                    (8, _) => direct_pass::<8, 2>(&b, c0),
                    (4, 1) => direct_pass::<4, 1>(&b, c0),
                    (4, 2) => direct_pass::<4, 2>(&b, c0),
                    (4, 3) => direct_pass::<4, 3>(&b, c0),
                    (4, _) => direct_pass::<4, 4>(&b, c0),
                    (2, 1) => direct_pass::<2, 1>(&b, c0),
                    (2, 2) => direct_pass::<2, 2>(&b, c0),
                    (2, 3) => direct_pass::<2, 3>(&b, c0),
                    (2, _) => direct_pass::<2, 4>(&b, c0),
                    (_, 1) => direct_pass::<1, 1>(&b, c0),
                    (_, 2) => direct_pass::<1, 2>(&b, c0),
                    (_, 3) => direct_pass::<1, 3>(&b, c0),
                    _ => direct_pass::<1, 4>(&b, c0),
                }
            }
            q += take;
        }
        c0 += 16 * nx;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
#[inline]
unsafe fn direct_pass<const OB: usize, const NX: usize>(a: &DirectArgs, c0: usize) {
    use std::arch::x86_64::*;
    let nt = a.taps.len();
    // SAFETY (whole body): `direct_row` checked every offset.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); NX]; OB];
        for i in 0..a.cin {
            let xp = a.x.add(i * a.x_plane + a.base + c0);
            for (t, &off) in a.taps.iter().enumerate() {
                let wp = a.w.add((i * nt + t) * a.ws);
                let mut xs = [_mm512_setzero_ps(); NX];
                for (c, v) in xs.iter_mut().enumerate() {
                    *v = _mm512_loadu_ps(xp.add(off + 16 * c));
                }
                for (q, row) in acc.iter_mut().enumerate() {
                    let wv = _mm512_set1_ps(*wp.add(q));
                    for (v, x) in row.iter_mut().zip(&xs) {
                        *v = _mm512_fmadd_ps(wv, *x, *v);
                    }
                }
            }
        }
        let rest = a.ow - c0 - 16 * (NX - 1);
        let last: __mmask16 = if rest >= 16 { 0xffff } else { (1u16 << rest) - 1 };
        for (q, row) in acc.iter().enumerate() {
            let out = a.y.add(q * a.y_plane + c0);
            for (c, v) in row.iter().enumerate() {
                if c + 1 < NX {
                    _mm512_storeu_ps(out.add(16 * c), *v);
                } else {
                    _mm512_mask_storeu_ps(out.add(16 * c), last, *v);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both instruction sets against a plain triple loop in f64: depths 0, 1,
    /// odd and long, overwriting and accumulating, a row stride past NR.
    #[test]
    fn tile_matches_a_plain_product_on_every_isa() {
        for kc in [0, 1, 7, 300] {
            let a: Vec<f32> = (0..kc * MR).map(|i| ((i * 37) % 101) as f32 / 101.0 - 0.5).collect();
            for isa in Isa::available() {
                let nr = isa.nr();
                let b: Vec<f32> = (0..kc * nr).map(|i| ((i * 53) % 97) as f32 / 97.0 - 0.5).collect();
                let c_rs = nr + 3;
                for accumulate in [false, true] {
                    let mut want = vec![0.25f32; MR * c_rs];
                    for r in 0..MR {
                        for j in 0..nr {
                            let dot: f64 = (0..kc).map(|p| f64::from(a[p * MR + r]) * f64::from(b[p * nr + j])).sum();
                            let base = if accumulate { 0.25 } else { 0.0 };
                            want[r * c_rs + j] = (base + dot) as f32;
                        }
                    }
                    let mut c = vec![0.25f32; MR * c_rs];
                    tile(isa, kc, &a, &b, &mut c, c_rs, accumulate);
                    for (i, (got, want)) in c.iter().zip(&want).enumerate() {
                        // Columns past nr are not the tile's: left as they were.
                        let want = if i % c_rs >= nr { 0.25 } else { *want };
                        assert!(
                            (got - want).abs() < 1e-4,
                            "kc {kc}, {isa:?}, accumulate {accumulate}, at {i}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn boxes_cover_the_tensor_once() {
        let mut y = vec![0.0f32; 3 * 5 * 7];
        par_rects(&mut y, (3, 5, 7), [&[0, 1, 3], &[0, 2, 2, 5], &[0, 4, 7]], |rect| {
            for p in rect.planes() {
                for r in rect.rows() {
                    rect.row(p, r).iter_mut().for_each(|v| *v += 1.0);
                }
            }
        });
        assert!(y.iter().all(|&v| v == 1.0), "{y:?}");
    }
}
