//! Convolutions that no GEMM runs near the FMA peak, run directly:
//! grouped ones with few channels per group (ResNeXt's 4 to 32), which as
//! GEMMs are hundreds of products a few rows deep; the stem on RGB, which
//! im2col turns into a matrix 49 times its input; and stride-1 3x3 ones
//! with few outputs on large maps (DenseNet's 32), where Winograd's input
//! transform is shared by too few outputs to pay. Each task takes a group
//! (or a band of its rows): its input channels are copied once, padded
//! (and for stride 2 split into even and odd columns, so that every tap of
//! an output row reads consecutive values), then [`raw::direct_row`]
//! computes up to 16 output channels of one row at a time in registers.
//! AVX-512 only; other CPUs keep the GEMMs.

use std::cell::RefCell;

use super::raw::{self, DIRECT_OB, DIRECT_SLACK, Isa};
use crate::ir::op::Conv2d;

/// Outputs at and below which a stride-1 3x3 convolution runs here rather
/// than by Winograd, on maps of [`FEW_OUTPUTS_MIN_POSITIONS`] or more.
const FEW_OUTPUTS: u64 = 32;

/// Output positions from which [`FEW_OUTPUTS`] applies. DenseNet-121's
/// 32-output layers, minimum per layer over 3 runs on Zen 5, Winograd's
/// F(2x2) against this: 56x56 4.20 against 3.75 ms for the block, 28x28
/// 2.19 against 1.83, 14x14 1.42 against 1.27, 7x7 (shifted GEMMs) 0.46
/// against 0.53. At 14x14 the rows are 14 of a vector's 16 lanes and the
/// gain within the noise, so Winograd keeps those.
const FEW_OUTPUTS_MIN_POSITIONS: u64 = 28 * 28;

/// Whether a convolution runs here on `isa`, its output `declared` as the
/// model fixes it: no dilation, the same stride 1 or 2 both ways, a kernel
/// up to 7x7, and one of: grouped with at most 32 input channels per
/// group; at most 4 input channels at all; a stride-1 3x3 with at most
/// [`FEW_OUTPUTS`] outputs on a declared map that large.
pub fn suits(conv: &Conv2d, declared: Option<(u64, u64)>, isa: Isa) -> bool {
    let per_group = conv.in_channels / conv.groups;
    let large = declared.is_some_and(|(h, w)| h * w >= FEW_OUTPUTS_MIN_POSITIONS);
    let few_outputs =
        conv.groups == 1 && conv.kernel == [3, 3] && conv.stride == [1, 1] && conv.out_channels <= FEW_OUTPUTS && large;
    matches!(isa, Isa::Avx512(_))
        && ((conv.groups > 1 && per_group <= 32) || conv.in_channels <= 4 || few_outputs)
        && conv.dilation == [1, 1]
        && conv.stride[0] == conv.stride[1]
        && (1..=2).contains(&conv.stride[0])
        && conv.kernel.iter().all(|&k| (1..=7).contains(&k))
}

/// Filters `[out][in per group][kh][kw]` regrouped for [`raw::direct_row`]:
/// per group, blocks of up to 16 outputs, each `[in][kh][kw][output in
/// block]`; the same size as loaded.
pub fn pack_filters(w: &[f32], conv: &Conv2d) -> Vec<f32> {
    let g = conv.groups as usize;
    let (cout, per) =
        (conv.out_channels as usize / g, (conv.in_channels / conv.groups * conv.kernel[0] * conv.kernel[1]) as usize);
    assert_eq!(w.len(), g * cout * per, "grouped filters");
    let mut out = vec![0.0; w.len()];
    for gi in 0..g {
        for o0 in (0..cout).step_by(DIRECT_OB) {
            let ob = DIRECT_OB.min(cout - o0);
            let at = (gi * cout + o0) * per;
            for q in 0..ob {
                for e in 0..per {
                    out[at + e * ob + q] = w[at + q * per + e];
                }
            }
        }
    }
    out
}

/// The prepared input's geometry: floats per row and per channel.
fn layout(conv: &Conv2d, (h, w): (usize, usize)) -> (usize, usize, usize) {
    let [ph, pw] = conv.padding.map(|v| v as usize);
    let (hp, wp) = (h + 2 * ph, w + 2 * pw);
    let half = wp.div_ceil(2);
    let row_len = if conv.stride[1] == 2 { 2 * half } else { wp };
    (row_len, hp * row_len, half)
}

/// Floats of scratch each worker keeps for a convolution with input
/// `(c, h, w)`: one group's prepared input.
pub fn scratch_len(conv: &Conv2d, (c, h, w): (usize, usize, usize)) -> usize {
    let (_, plane, _) = layout(conv, (h, w));
    c / conv.groups as usize * plane + DIRECT_SLACK
}

thread_local! {
    static PREPARED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// `y = conv(x)` for input `(c, h, w)` and output `(oh, ow)`; `weight` as
/// [`pack_filters`] leaves it. Tasks take a group, or with fewer groups
/// than four per thread, a band of its rows.
#[allow(clippy::too_many_arguments)]
pub fn conv(
    isa: Isa,
    x: &[f32],
    (c, h, w): (usize, usize, usize),
    conv: &Conv2d,
    weight: &[f32],
    y: &mut [f32],
    (oh, ow): (usize, usize),
    threads: usize,
) {
    let g = conv.groups as usize;
    let (cin, cout) = (c / g, conv.out_channels as usize / g);
    let [kh, kw] = conv.kernel.map(|v| v as usize);
    let stride = conv.stride[0] as usize;
    let (row_len, plane, half) = layout(conv, (h, w));
    assert!(x.len() >= c * h * w && weight.len() >= g * cout * cin * kh * kw, "grouped conv operands in bounds");
    if oh == 0 || ow == 0 || cout == 0 {
        return;
    }
    // Where tap (ky, kx) of output row 0, column 0 lies in a channel.
    let col = |kx: usize| if stride == 2 { (kx % 2) * half + kx / 2 } else { kx };
    let taps: Vec<usize> = (0..kh).flat_map(|ky| (0..kw).map(move |kx| ky * row_len + col(kx))).collect();
    let per = cin * kh * kw;
    let plane_cuts: Vec<usize> = (0..=g).map(|gi| gi * cout).collect();
    let bands = (4 * threads).div_ceil(g).clamp(1, oh);
    let row_cuts: Vec<usize> = (0..=bands).map(|b| b * oh / bands).collect();
    raw::par_rects(y, (g * cout, oh, ow), [&plane_cuts, &row_cuts, &[0, ow]], |rect| {
        let gi = rect.planes().start / cout;
        let rows = rect.rows();
        // The padded input rows the band reads.
        let first = rows.start * stride;
        let count = ((rows.end - 1) * stride + kh - first).min(plane / row_len - first);
        PREPARED.with(|p| {
            let mut p = p.borrow_mut();
            p.resize(cin * plane + DIRECT_SLACK, 0.0);
            let group = &x[gi * cin * h * w..(gi + 1) * cin * h * w];
            prepare(isa, group, (cin, h, w), conv, (first, count), &mut p);
            let wg = &weight[gi * cout * per..(gi + 1) * cout * per];
            for o0 in (0..cout).step_by(DIRECT_OB) {
                let ob = DIRECT_OB.min(cout - o0);
                for oy in rows.clone() {
                    let base = (oy * stride - first) * row_len;
                    raw::direct_row(
                        isa,
                        &p,
                        (cin, plane, base),
                        &taps,
                        &wg[o0 * per..],
                        ob,
                        rect,
                        (gi * cout + o0, oy),
                    )
                    .expect("`suits` admits AVX-512 only");
                }
            }
        });
    });
}

/// Padded rows `first..first + count` of the group's channels (zeros
/// outside the input), each as is (stride 1) or its even columns then its
/// odd ones (stride 2), at the start of each channel's plane; zeros past
/// the last plane. Compiled per instruction set: for stride 2 the input is
/// four times the output, and a scalar scatter took longer than the
/// convolution.
fn prepare(
    isa: Isa,
    x: &[f32],
    (cin, h, w): (usize, usize, usize),
    conv: &Conv2d,
    rows: (usize, usize),
    out: &mut [f32],
) {
    raw::vectorised(isa, Prepare { x, chw: (cin, h, w), conv, rows, out });
}

struct Prepare<'a> {
    x: &'a [f32],
    chw: (usize, usize, usize),
    conv: &'a Conv2d,
    rows: (usize, usize),
    out: &'a mut [f32],
}

impl raw::Vectorised for Prepare<'_> {
    #[inline(always)]
    fn run(self) {
        let Prepare { x, chw: (cin, h, w), conv, rows: (first, count), out } = self;
        let [ph, pw] = conv.padding.map(|v| v as usize);
        let (row_len, plane, half) = layout(conv, (h, w));
        let wp = w + 2 * pw;
        let mut padded = vec![0.0; 2 * half];
        out[cin * plane..].fill(0.0);
        for i in 0..cin {
            let band = &mut out[i * plane..i * plane + count * row_len];
            for (r, row) in band.chunks_exact_mut(row_len).enumerate() {
                let Some(iy) = (first + r).checked_sub(ph).filter(|&iy| iy < h) else {
                    row.fill(0.0);
                    continue;
                };
                let src = &x[(i * h + iy) * w..(i * h + iy + 1) * w];
                if conv.stride[1] == 2 {
                    padded[pw..pw + w].copy_from_slice(src);
                    let (even, odd) = row.split_at_mut(half);
                    for j in 0..half {
                        even[j] = padded[2 * j];
                        odd[j] = padded[2 * j + 1];
                    }
                } else {
                    row[..pw].fill(0.0);
                    row[pw..pw + w].copy_from_slice(src);
                    row[pw + w..wp].fill(0.0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::raw::Kernels;

    /// A grouped convolution by its definition, in f64.
    fn direct(x: &[f32], (c, h, w): (usize, usize, usize), conv: &Conv2d, f: &[f32]) -> (Vec<f32>, usize, usize) {
        let g = conv.groups as usize;
        let (k, cin, cout) = (conv.kernel[0] as usize, c / g, conv.out_channels as usize / g);
        let (s, p) = (conv.stride[0] as usize, conv.padding[0] as usize);
        let (oh, ow) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
        let mut y = vec![0.0; g * cout * oh * ow];
        for o in 0..g * cout {
            let gi = o / cout;
            for (oy, ox) in (0..oh).flat_map(|a| (0..ow).map(move |b| (a, b))) {
                let mut sum = 0f64;
                for i in 0..cin {
                    for (ky, kx) in (0..k).flat_map(|a| (0..k).map(move |b| (a, b))) {
                        let (iy, ix) = ((oy * s + ky).wrapping_sub(p), (ox * s + kx).wrapping_sub(p));
                        if iy < h && ix < w {
                            let xv = x[((gi * cin + i) * h + iy) * w + ix];
                            sum += f64::from(xv) * f64::from(f[((o * cin + i) * k + ky) * k + kx]);
                        }
                    }
                }
                y[(o * oh + oy) * ow + ox] = sum as f32;
            }
        }
        (y, oh, ow)
    }

    /// ResNeXt's shapes and others: 1 to 5 outputs per group (a last block
    /// of fewer than four), rows of 1 to 70 columns (passes of one to four
    /// vectors, masked ends), strides 1 and 2 with odd and even sizes,
    /// kernels 1, 3 and 7, padding 0 to 3.
    #[test]
    fn matches_a_grouped_convolution_by_its_definition() {
        let isa = Isa::detect(Kernels::Avx512);
        if !matches!(isa, Isa::Avx512(_)) {
            return;
        }
        for (groups, cin, cout, k, s, p, (h, w)) in [
            (32, 4, 4, 3, 1, 1, (9, 70)),
            (8, 8, 8, 3, 2, 1, (15, 28)),
            (4, 16, 5, 3, 1, 1, (7, 7)),
            (2, 3, 6, 7, 2, 3, (12, 17)),
            (3, 2, 1, 1, 1, 0, (4, 1)),
            (2, 32, 2, 3, 2, 0, (8, 9)),
            // Blocks of 16 and a remainder of 7 (4 + 2 + 1) on rows of one
            // vector; 8 + 4 on rows of two.
            (2, 8, 23, 3, 1, 1, (6, 10)),
            (2, 4, 12, 3, 1, 1, (3, 20)),
            // The stem: one group of 3 channels, 7x7/2, rows of 70 (a pass
            // of four vectors and one of one), split into bands of rows.
            (1, 3, 20, 7, 2, 3, (21, 139)),
            // DenseNet's kind: one group, many inputs, 32 outputs (two
            // blocks of 16), 3x3/1 on rows of two vectors less two columns.
            (1, 40, 32, 3, 1, 1, (9, 30)),
        ] {
            let conv = Conv2d {
                in_channels: (groups * cin) as u64,
                out_channels: (groups * cout) as u64,
                kernel: [k as u64; 2],
                stride: [s as u64; 2],
                padding: [p as u64; 2],
                dilation: [1, 1],
                groups: groups as u64,
                bias: false,
                standardize: None,
            };
            let declared = (groups == 1 && cin > 4).then_some((28, 28));
            assert!(suits(&conv, declared, isa));
            let c = groups * cin;
            let x: Vec<f32> = (0..c * h * w).map(|i| ((i * 7919) % 1013) as f32 / 1013.0 - 0.5).collect();
            let f: Vec<f32> =
                (0..groups * cout * cin * k * k).map(|i| ((i * 104_729) % 997) as f32 / 997.0 - 0.5).collect();
            let (want, oh, ow) = direct(&x, (c, h, w), &conv, &f);
            for threads in [1, 2, 5] {
                let mut y = vec![f32::NAN; want.len() + 5];
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let packed = pack_filters(&f, &conv);
                pool.install(|| super::conv(isa, &x, (c, h, w), &conv, &packed, &mut y, (oh, ow), threads));
                for (i, (a, b)) in y.iter().zip(&want).enumerate() {
                    assert!(
                        (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                        "{groups}x{cin}->{cout} k{k} s{s} p{p} {h}x{w}, {threads} threads, at {i}: {a} vs {b}"
                    );
                }
                assert!(y[want.len()..].iter().all(|v| v.is_nan()), "nothing written past the output");
            }
        }
    }

    #[test]
    fn dense_convs_run_here_only_with_few_outputs_on_large_maps() {
        let isa = Isa::detect(Kernels::Avx512);
        let conv = |cout: u64, stride: u64| Conv2d {
            in_channels: 128,
            out_channels: cout,
            kernel: [3, 3],
            stride: [stride; 2],
            padding: [1, 1],
            dilation: [1, 1],
            groups: 1,
            bias: false,
            standardize: None,
        };
        assert_eq!(suits(&conv(32, 1), Some((56, 56)), isa), matches!(isa, Isa::Avx512(_)));
        assert_eq!(suits(&conv(32, 1), Some((28, 28)), isa), matches!(isa, Isa::Avx512(_)));
        assert!(!suits(&conv(32, 1), Some((14, 14)), isa), "Winograd's at 14x14");
        assert!(!suits(&conv(32, 1), None, isa), "Winograd's where the size is open");
        assert!(!suits(&conv(64, 1), Some((56, 56)), isa), "Winograd's with more outputs");
        assert!(!suits(&conv(32, 2), Some((56, 56)), isa), "im2col's at stride 2");
        assert!(!suits(&conv(32, 1), Some((56, 56)), Isa::Portable));
    }
}
