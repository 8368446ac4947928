//! resc: a compiler for `.res`, a language for residual-family networks.

pub mod backend;
pub mod diag;
pub mod driver;
pub mod engine;
pub mod fmt;
pub mod ir;
pub mod labels;
pub mod lsp;
pub mod npy;
pub mod ops;
pub mod panic_guard;
pub mod passes;
pub mod preprocess;
pub mod pth;
pub mod report;
pub mod sema;
pub mod source;
pub mod stdlib;
pub mod syntax;
pub mod testing;
pub mod weights;
