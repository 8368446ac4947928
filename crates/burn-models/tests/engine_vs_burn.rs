//! `resc run`'s engine and the generated burn module agree: the same
//! safetensors checkpoint (read by each side's own loader) and the same
//! input give the same output, for a model of each family.

use burn::prelude::*;
use burn_models::MODELS;
use resc::engine::{self, Engine};

mod common;
use common::write_checkpoint;

fn agree(name: &str) {
    let device = Device::flex();
    let m = MODELS.iter().find(|m| m.name == name).unwrap_or_else(|| panic!("no model {name}"));
    let ckpt = std::env::temp_dir().join(format!("engine-vs-burn-{}-{name}.safetensors", std::process::id()));
    write_checkpoint(m.state, &ckpt);
    let burn_model = (m.load)(&device, &ckpt).unwrap_or_else(|e| panic!("{name}: {e}"));
    let g = resc::testing::model_graph(std::path::Path::new("../../tests/fixtures"), name, None);
    let weights = resc::weights::load_safetensors(&ckpt, &g).unwrap_or_else(|e| panic!("{name}: {e}"));
    std::fs::remove_file(&ckpt).ok();

    let [_, c, h, w] = m.test_input;
    let shape = [2, c, h, w];
    let x = resc::weights::synthetic_input(shape.iter().product());
    let want: Vec<f32> = burn_model
        .run(Tensor::<1>::from_floats(x.as_slice(), &device).reshape(shape))
        .into_data()
        .try_to_vec()
        .expect("f32 output");
    let mut e = Engine::new(g, weights, engine::Options::default()).unwrap();
    let got = e.run(&x, &shape).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(got.shape, vec![2, m.test_output[1]], "{name}");
    resc::testing::assert_close(&format!("{name}: the engine against burn"), &got.data, &want, 1e-4);
}

#[test]
fn resnet_and_stochastic_depth() {
    agree("resnet20");
    agree("resnet110_sd");
}

#[test]
fn resnetv2_and_wide_resnet() {
    agree("preact_resnet164");
    agree("wrn_16_8");
}

#[test]
fn resnext() {
    agree("resnext29_8x64d");
}

#[test]
fn densenet() {
    agree("densenet_bc100_k12");
}

#[test]
fn dpn_and_resnest() {
    agree("dpn68");
    agree("resnest14d");
}

/// timm's variants: squeeze-excitation, efficient channel attention with
/// adaptive kernels, the deep and tiered stems (a labelled block of a
/// numbered list: a tuple field), average-pool shortcuts, ResNet-RS's stem, blur pools (a stateless op with a support function).
#[test]
fn timm_variants() {
    agree("seresnet18");
    agree("ecaresnet26t");
    agree("resnetrs50");
    agree("resnetblur18");
}

#[test]
fn every_op_and_the_unusual_forms() {
    agree("every_op");
    agree("odd_net");
    agree("act_net");
    agree("gn_net");
    agree("cc_net");
    agree("down_net");
}
