//! What the compiler knows about an op, kept in one place per op: its
//! signature and how arguments build it, its reference evaluation, how the
//! engine runs it, its burn code and its ONNX nodes. The activations,
//! `channel_conv`, `pad`, `blur_pool`, `layer_norm`, `attention_pool`, `radix_softmax`, `split_sum` and what `std_conv` adds to a conv are
//! here; the older ops still have a match per concern (`ir::op`,
//! `sema::builtins`, each backend), to be moved the same way.

pub mod activation;
pub mod attention_pool;
pub mod blur_pool;
pub mod channel_conv;
pub mod layer_norm;
pub mod pad;
pub mod radix_softmax;
pub mod split_sum;
pub mod std_conv;
