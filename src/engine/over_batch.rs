//! Convolutions on small maps as one GEMM over all of a lane's samples.
//! Per sample, a 7x7 map's 3x3 conv reads 9.4 MB of filters (resnet18's
//! layer4) for 49 output columns: the filters stream from memory once per
//! sample, and the GEMM is bound by that stream. Side by side, the
//! samples' columns make one GEMM that reads the filters once: the inputs
//! are gathered (by im2col, or a copy for a 1x1 conv) into one matrix with
//! every sample's columns in turn, and the product is scattered back to
//! each sample's output, where its epilogue then runs as usual.

use super::exec::{self, Ctx, Method};
use super::lower::{ConvForm, Kind, Step};
use crate::ir::op::Conv2d;

/// Output positions per sample at or below which a convolution runs over
/// the batch (8x8 maps and smaller). Measured on resnet18 at batch 16, one
/// lane of 8 per thread: its 7x7 3x3 convs ran 1.1-1.2x faster over the
/// batch (46% to 53-56% of the FMA peak); at 14x14, with four times the
/// work per filter value, no faster.
const MAX_POSITIONS: usize = 64;

/// The convolution a step runs over the batch, if it does: by GEMM, one
/// group, at batch > 1, on a small output map.
pub fn suits<'s>(cx: &Ctx, step: &'s Step) -> Option<&'s Conv2d> {
    let Kind::Conv { conv, form: ConvForm::Gemm, .. } = &step.kind else { return None };
    let (_, oh, ow) = cx.chw(step.out);
    runs(conv, oh * ow, cx.plan.batch).then_some(conv)
}

/// Whether a GEMM-form convolution with `positions` outputs per plane runs
/// over a batch of `batch` (the memory plan asks too).
pub fn runs(conv: &Conv2d, positions: usize, batch: usize) -> bool {
    let gathered = matches!(exec::method(conv), Method::Direct | Method::Im2col);
    batch > 1 && conv.groups == 1 && gathered && positions <= MAX_POSITIONS
}

/// Floats of scratch for a conv that [`suits`]: the gathered inputs and
/// the product, for `batch` samples of input `(c, _, _)` and output
/// `(m, oh, ow)`.
pub fn scratch_len(conv: &Conv2d, c: usize, (m, oh, ow): (usize, usize, usize), batch: usize) -> usize {
    let [kh, kw] = conv.kernel.map(|v| v as usize);
    (c * kh * kw + m) * batch * oh * ow
}

/// Every sample's output of the step's convolution (before its epilogue).
pub fn conv(cx: &Ctx, step: &Step, conv: &Conv2d, arena: &mut [f32], scratch: &mut [f32]) {
    let Kind::Conv { x, weight, .. } = &step.kind else { unreachable!("suits only convolutions") };
    let (c, h, w) = cx.chw(*x);
    let (m, oh, ow) = cx.chw(step.out);
    let [kh, kw] = conv.kernel.map(|v| v as usize);
    let (n, batch) = (oh * ow, cx.plan.batch);
    let (k, ld) = (c * kh * kw, batch * n);
    let (cols, rest) = scratch.split_at_mut(k * ld);
    let wide = &mut rest[..m * ld];
    let (xv, yv) = (cx.view(*x), cx.view(step.out));
    for s in 0..batch {
        let xs = &arena[xv.sample(s)];
        let at = &mut cols[s * n..];
        match exec::method(conv) {
            Method::Direct => {
                for (r, plane) in xs[..c * n].chunks_exact(n).enumerate() {
                    at[r * ld..r * ld + n].copy_from_slice(plane);
                }
            }
            _ => exec::im2col(xs, (c, h, w), conv, at, (oh, ow), ld),
        }
    }
    exec::gemm_rows_major(wide, &cx.l.weights[*weight], cols, (m, ld, k), cx.threads);
    for s in 0..batch {
        let ys = &mut arena[yv.sample(s)];
        for (o, row) in ys[..m * n].chunks_exact_mut(n).enumerate() {
            row.copy_from_slice(&wide[o * ld + s * n..o * ld + (s + 1) * n]);
        }
    }
}
