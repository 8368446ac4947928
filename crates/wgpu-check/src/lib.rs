//! A resc-generated model built for burn's wgpu backend. The test that checks
//! this crate (`crates/burn-models/tests/wgpu.rs`) writes the generated files
//! into `src/generated/` first; nothing here is committed but this file.

#[path = "generated/resc_support.rs"]
mod resc_support;
#[path = "generated/resnet50.rs"]
pub mod resnet50;

use burn::prelude::*;

/// resnet50's logits on the first wgpu device.
pub fn logits_on_wgpu(x: Tensor<4>) -> Tensor<2> {
    let device = Device::wgpu(Default::default());
    let model = resnet50::Resnet50Config::new().init(&device);
    model.forward(x.to_device(&device))
}
