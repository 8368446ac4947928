//! Tensor shapes with a symbolic batch dimension.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Dim {
    /// A named dimension left open (`N`); counts are reported at batch 1.
    Sym(String),
    Size(u64),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Shape(pub Vec<Dim>);

impl Shape {
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// The size of dimension `i`, or `None` if it is symbolic or absent.
    pub fn size(&self, i: usize) -> Option<u64> {
        match self.0.get(i) {
            Some(Dim::Size(s)) => Some(*s),
            _ => None,
        }
    }

    /// Channels (dim 1) of `[N, C, ...]`.
    pub fn channels(&self) -> Option<u64> {
        self.size(1)
    }

    /// The shape with symbolic dims set to `batch`.
    pub fn concrete(&self, batch: u64) -> Vec<u64> {
        self.0
            .iter()
            .map(|d| match d {
                Dim::Sym(_) => batch,
                Dim::Size(s) => *s,
            })
            .collect()
    }

    /// Elements per batch item: the product of all but the first dimension.
    pub fn per_item(&self) -> u128 {
        self.0
            .iter()
            .skip(1)
            .map(|d| match d {
                Dim::Size(s) => *s as u128,
                Dim::Sym(_) => 1,
            })
            .product()
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Sym(s) => write!(f, "{s}"),
            Dim::Size(n) => write!(f, "{n}"),
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}
