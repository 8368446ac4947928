//! The arithmetic shape rules are written in. Each op writes its rule once,
//! generic over [`DimAlgebra`]: the front end runs it on numbers
//! ([`Numbers`]) when a model is checked, and the engine runs it as
//! instructions (`engine::shapecheck`), compiled once and evaluated for each
//! input size `resc run` is given. A rule sees every value as four dims
//! `[N, C, H, W]`; a rank-2 value `[N, F]` is `[N, F, 1, 1]`.

/// What a failed requirement means; the front end turns it into a
/// `ShapeError` with the op's own words, the engine into a message naming
/// the layer and the sizes it saw.
#[derive(Clone, Debug, PartialEq)]
pub enum CheckKind {
    Channels {
        want: i64,
    },
    Features {
        want: i64,
    },
    /// The (padded) input must be at least this large.
    MinSize {
        need_h: i64,
        need_w: i64,
    },
    /// The inputs of an add, concat or mul must agree.
    Agree,
    Divisible {
        by: i64,
    },
    SliceEnd {
        end: i64,
    },
    /// Pooled channels: height and width 1.
    Pooled,
}

pub type Dims<V> = [V; 4];

/// Integer arithmetic over dims, with 0/1 values for conditions.
pub trait DimAlgebra {
    type V: Copy;

    fn k(&mut self, v: i64) -> Self::V;
    fn add(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn sub(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn mul(&mut self, a: Self::V, b: Self::V) -> Self::V;
    /// `a / by`: `by` a positive constant, `a` not negative.
    fn div(&mut self, a: Self::V, by: i64) -> Self::V;
    /// `a % by`: `by` a positive constant, `a` not negative.
    fn rem(&mut self, a: Self::V, by: i64) -> Self::V;
    fn eq(&mut self, a: Self::V, b: Self::V) -> Self::V;
    /// `a >= b`.
    fn ge(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn and(&mut self, a: Self::V, b: Self::V) -> Self::V;
    fn or(&mut self, a: Self::V, b: Self::V) -> Self::V;
    /// `a` where `c`, else `b`.
    fn select(&mut self, c: Self::V, a: Self::V, b: Self::V) -> Self::V;
    /// The value, where it is known before any input is seen: always for
    /// numbers; for constants in the compiled check. The layout an engine
    /// kernel is compiled for (a pooled operand) depends on it.
    fn known(&self, v: Self::V) -> Option<i64>;
    /// `ok` must be 1. Numbers fail at once; the compiled check records a
    /// check that fails when it runs.
    fn require(&mut self, ok: Self::V, fail: CheckKind) -> Result<(), CheckKind>;

    fn add_k(&mut self, a: Self::V, v: i64) -> Self::V {
        let k = self.k(v);
        self.add(a, k)
    }

    fn eq_k(&mut self, a: Self::V, v: i64) -> Self::V {
        let k = self.k(v);
        self.eq(a, k)
    }

    fn ge_k(&mut self, a: Self::V, v: i64) -> Self::V {
        let k = self.k(v);
        self.ge(a, k)
    }

    /// `c` must be `want` channels.
    fn want_channels(&mut self, c: Self::V, want: u64) -> Result<(), CheckKind> {
        let ok = self.eq_k(c, want as i64);
        self.require(ok, CheckKind::Channels { want: want as i64 })
    }

    /// Height and width at least `need_h` x `need_w`.
    fn want_min_size(&mut self, d: &Dims<Self::V>, need_h: i64, need_w: i64) -> Result<(), CheckKind> {
        let okh = self.ge_k(d[2], need_h);
        let okw = self.ge_k(d[3], need_w);
        let ok = self.and(okh, okw);
        self.require(ok, CheckKind::MinSize { need_h, need_w })
    }

    /// Height and width both 1.
    fn is_pooled(&mut self, d: &Dims<Self::V>) -> Self::V {
        let h = self.eq_k(d[2], 1);
        let w = self.eq_k(d[3], 1);
        self.and(h, w)
    }

    /// The same dims from `from` on.
    fn same_from(&mut self, a: &Dims<Self::V>, b: &Dims<Self::V>, from: usize) -> Self::V {
        let mut ok = self.k(1);
        for d in from..4 {
            let e = self.eq(a[d], b[d]);
            ok = self.and(ok, e);
        }
        ok
    }
}

/// The front end's algebra: the dims are numbers, wide enough that no
/// product of three dims of at most `MAX_DIM` overflows.
pub struct Numbers;

impl DimAlgebra for Numbers {
    type V = i128;

    fn k(&mut self, v: i64) -> i128 {
        i128::from(v)
    }
    fn add(&mut self, a: i128, b: i128) -> i128 {
        a + b
    }
    fn sub(&mut self, a: i128, b: i128) -> i128 {
        a - b
    }
    fn mul(&mut self, a: i128, b: i128) -> i128 {
        a.saturating_mul(b)
    }
    fn div(&mut self, a: i128, by: i64) -> i128 {
        a / i128::from(by.max(1))
    }
    fn rem(&mut self, a: i128, by: i64) -> i128 {
        a % i128::from(by.max(1))
    }
    fn eq(&mut self, a: i128, b: i128) -> i128 {
        i128::from(a == b)
    }
    fn ge(&mut self, a: i128, b: i128) -> i128 {
        i128::from(a >= b)
    }
    fn and(&mut self, a: i128, b: i128) -> i128 {
        a & b
    }
    fn or(&mut self, a: i128, b: i128) -> i128 {
        a | b
    }
    fn select(&mut self, c: i128, a: i128, b: i128) -> i128 {
        if c != 0 { a } else { b }
    }
    fn known(&self, v: i128) -> Option<i64> {
        i64::try_from(v).ok()
    }
    fn require(&mut self, ok: i128, fail: CheckKind) -> Result<(), CheckKind> {
        if ok == 1 { Ok(()) } else { Err(fail) }
    }
}

/// A sliding window along one axis, with PyTorch's output-length rule.
pub struct Window {
    pub kernel: u64,
    pub stride: u64,
    pub pad: u64,
    pub dilation: u64,
    pub ceil: bool,
}

impl Window {
    /// The span one window covers.
    pub fn extent(&self) -> i64 {
        (self.dilation * (self.kernel.max(1) - 1) + 1) as i64
    }

    /// The smallest unpadded input one window fits in.
    pub fn need(&self) -> i64 {
        self.extent() - 2 * self.pad as i64
    }

    /// Output length for an input of `len`, which must be at least `need`.
    pub fn output<A: DimAlgebra + ?Sized>(&self, a: &mut A, len: A::V) -> A::V {
        let s = self.stride.max(1) as i64;
        let need = a.k(self.need());
        let span = a.sub(len, need);
        let span = if self.ceil { a.add_k(span, s - 1) } else { span };
        let steps = a.div(span, s);
        let out = a.add_k(steps, 1);
        if !self.ceil {
            return out;
        }
        // PyTorch drops a last ceil-mode window that would start in the padding.
        let last = a.add_k(out, -1);
        let sk = a.k(s);
        let start = a.mul(last, sk);
        let limit = a.add_k(len, self.pad as i64);
        let past = a.ge(start, limit);
        a.select(past, last, out)
    }
}
