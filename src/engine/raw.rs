//! Every `unsafe` of the engine, behind safe functions that check what the
//! unsafe code relies on.
//!
//! Invariants:
//! - JIT addresses ([`FnAddr`]) come from a [`super::jit::Compiled`] that the
//!   calling engine owns, so the code is mapped while it runs. Kernels were
//!   built from the [`KernelSpec`] passed beside them: they read `src` and
//!   each operand, and write `dst`, exactly `channels * plane_len` values
//!   (per-channel operands: `channels` values), nothing else. The shape check
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
    let ptrs: Vec<*const f32> = operands.iter().map(|o| o.as_ptr()).collect();
    let dst_ptr = dst.as_mut_ptr();
    let src_ptr = src.map_or(dst_ptr as *const f32, |s| s.as_ptr());
    // SAFETY: lengths checked above; the kernel touches exactly those ranges
    // (invariant above); `src` either is `dst` or a slice that cannot alias the
    // `&mut` one.
    unsafe {
        let f: extern "C" fn(*mut f32, *const f32, *const *const f32, i64, i64) = std::mem::transmute(f.0);
        f(dst_ptr, src_ptr, ptrs.as_ptr(), channels as i64, plane_len as i64);
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
