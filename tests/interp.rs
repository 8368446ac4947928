//! The reference interpreter against PyTorch: torchvision and timm models and
//! tests/fixtures/every_op.res, on the synthetic weights and input that
//! tests/fixtures/gen_numerics.py ran them with. Logits and penultimate
//! features both.

use std::collections::HashMap;
use std::path::Path;

use resc::backend::interp::{self, Tensor};
use resc::driver::{self, Select};
use resc::sema::Program;
use resc::testing::{Fixture, assert_close, fixture_weights, model_graph};

const FIXTURES: &str = "tests/fixtures/numerics";

fn check(model: &str) {
    let f = Fixture::read(&Path::new(FIXTURES).join(format!("{model}.json"))).unwrap();
    let g = model_graph(Path::new("tests/fixtures"), model, Some(&f.input));
    let cut = resc::passes::features::up_to_classifier(&g).expect("a classifier at the end");
    let x = resc::weights::synthetic_input(f.input.iter().product());
    let out = interp::run_keeping(&g, &fixture_weights(&g), &Tensor::new(f.input.clone(), x), &[g.output, cut.output])
        .expect("runs");
    assert_close(&format!("{model} logits ({})", f.made_by), &out[0].data, &f.logits, 1e-4);
    assert_close(&format!("{model} features ({})", f.made_by), &out[1].data, &f.features, 1e-4);
}

#[test]
fn every_op_and_activation_matches_pytorch() {
    check("every_op");
}

#[test]
fn resnet18_matches_torchvision() {
    check("resnet18");
}

#[test]
fn resnext50_matches_torchvision() {
    check("resnext50_32x4d");
}

#[test]
fn densenet121_matches_torchvision() {
    check("densenet121");
}

#[test]
fn resnetv2_50_matches_timm() {
    check("resnetv2_50");
}

#[test]
fn dpn68_matches_timm() {
    check("dpn68");
}

#[test]
fn resnest14d_matches_timm() {
    check("resnest14d");
}

#[test]
fn resnest_radix_and_groups_match_timm() {
    check("resnest50d_4s2x40d");
    check("resnest50d_1s4x24d");
}

#[test]
fn squeeze_excitation_and_channel_conv_match_timm() {
    check("seresnet50");
    check("ecaresnet50d");
}

#[test]
fn bit_std_conv_group_norm_and_pad_match_timm() {
    check("resnetv2_50x1_bit");
}

#[test]
fn blur_pool_matches_timm() {
    check("resnetblur50");
}

#[test]
fn selective_kernel_matches_timm() {
    check("skresnet18");
}

#[test]
fn global_context_matches_timm() {
    check("gcresnet50t");
}

/// Each fixture has a test above: a new one cannot sit unchecked.
#[test]
fn every_fixture_is_checked() {
    let source = std::fs::read_to_string(file!()).unwrap();
    for f in Fixture::all(Path::new(FIXTURES)) {
        assert!(source.contains(&format!("check(\"{}\")", f.model)), "no test checks {}", f.model);
    }
}

#[test]
fn missing_weights_and_wrong_inputs_are_errors() {
    let prog = Program::load_text("stdlib/resnet.res", None, resc::stdlib::source("resnet").unwrap());
    let g = driver::compile(&prog, Select::Named("resnet20")).unwrap().remove(0);
    let x = Tensor::new(vec![1, 3, 32, 32], vec![0.0; 3 * 32 * 32]);
    let err = interp::run(&g, &HashMap::new(), &x).unwrap_err();
    assert_eq!(err.to_string(), "the weights lack `conv1.weight`");
    let bad = Tensor::new(vec![1, 3, 16, 16], vec![0.0; 3 * 16 * 16]);
    assert!(matches!(interp::run(&g, &HashMap::new(), &bad), Err(interp::RunError::InputShape { .. })));
}
