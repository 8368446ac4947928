//! The command line's parts that are not commands themselves.

pub mod docs;
pub mod failure;
pub mod model_source;
pub mod typo;
pub mod weights_source;
