//! resc: a compiler for `.res`, a language for residual-family networks.

pub mod diag;
pub mod source;
pub mod syntax;
pub mod ir;
pub mod sema;
pub mod stdlib;
pub mod passes;
pub mod driver;
pub mod backend;
pub mod report;
