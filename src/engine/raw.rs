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
