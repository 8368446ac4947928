//! `resc run`'s engine and the generated burn module agree: the same
//! safetensors checkpoint (read by each side's own loader) and the same
//! input give the same output, for a model of each family.

use burn::prelude::*;
use burn_models::MODELS;
use resc::driver::{self, Select};
use resc::engine::{self, Engine};
use resc::sema::Program;

mod common;
use common::write_checkpoint;

fn resc_graph(model: &str) -> resc::ir::Graph {
    for module in resc::stdlib::NAMES {
        let prog = Program::load_text(&resc::stdlib::display_name(module), None, resc::stdlib::source(module).unwrap());
        if let Ok(mut gs) = driver::compile(&prog, Select::Named(model)) {
            return gs.remove(0);
        }
    }
    panic!("no stdlib model {model}")
}

fn agree(name: &str) {
    let device = Device::flex();
    let m = MODELS.iter().find(|m| m.name == name).unwrap_or_else(|| panic!("no model {name}"));
    let ckpt = std::env::temp_dir().join(format!("engine-vs-burn-{}-{name}.safetensors", std::process::id()));
    write_checkpoint(m.state, &ckpt);
    let burn_model = (m.load)(&device, &ckpt).unwrap_or_else(|e| panic!("{name}: {e}"));
    let g = resc_graph(name);
    let weights = resc::weights::load_safetensors(&ckpt, &g).unwrap_or_else(|e| panic!("{name}: {e}"));
    std::fs::remove_file(&ckpt).ok();

    let [_, c, h, w] = m.test_input;
    let shape = [2, c, h, w];
    let x: Vec<f32> = (0..shape.iter().product::<usize>()).map(|i| (i as f64 * 0.017).cos() as f32).collect();
    let want: Vec<f32> = burn_model
        .run(Tensor::<1>::from_floats(x.as_slice(), &device).reshape(shape))
        .into_data()
        .try_to_vec()
        .expect("f32 output");
    let mut e = Engine::new(g, weights, engine::Options::default()).unwrap();
    let got = e.run(&x, &shape).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(got.shape, vec![2, m.test_output[1]], "{name}");
    let scale = want.iter().fold(0f32, |a, v| a.max(v.abs()));
    let err = got.data.iter().zip(&want).fold(0f32, |a, (g, w)| a.max((g - w).abs()));
    assert!(err / scale < 1e-4, "{name}: engine and burn differ by {err}, largest output {scale}");
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
