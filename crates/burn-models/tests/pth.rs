//! The generated loader reads PyTorch checkpoints as `torch.save` writes them
//! (tests/fixtures/pth, made once with torch): the output equals the one from
//! the same weights as safetensors, and from `resc run`'s own reader.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn_models::{Entry, MODELS};
use resc::engine::{self, Engine};

mod common;
use common::write_checkpoint;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pth").join(name)
}

fn every_op() -> &'static Entry {
    MODELS.iter().find(|m| m.name == "every_op").expect("every_op is generated")
}

fn input(m: &Entry) -> (Vec<f32>, [usize; 4]) {
    let [_, c, h, w] = m.test_input;
    let shape = [2, c, h, w];
    (resc::weights::synthetic_input(shape.iter().product()), shape)
}

fn burn_output(m: &Entry, checkpoint: &Path) -> Vec<f32> {
    let device = Device::flex();
    let net = (m.load)(&device, checkpoint).unwrap_or_else(|e| panic!("{}: {e}", checkpoint.display()));
    let (x, shape) = input(m);
    net.run(Tensor::<1>::from_floats(x.as_slice(), &device).reshape(shape)).into_data().try_to_vec().unwrap()
}

#[test]
fn pth_checkpoints_give_what_the_same_weights_as_safetensors_give() {
    let m = every_op();
    let st = std::env::temp_dir().join(format!("burn-pth-{}.safetensors", std::process::id()));
    write_checkpoint(m.state, &st);
    let want = burn_output(m, &st);
    std::fs::remove_file(&st).ok();
    // Plain, and wrapped as {"epoch": 7, "state_dict": {"module.conv1.weight": ...}}.
    for file in ["every_op.pth", "every_op_wrapped.pth"] {
        let got = burn_output(m, &fixture(file));
        resc::testing::assert_close(file, &got, &want, 1e-6);
    }
}

#[test]
fn a_half_precision_checkpoint_matches_resc_run() {
    let m = every_op();
    let path = fixture("every_op_half.pth");
    let got = burn_output(m, &path);
    let g = resc::testing::model_graph(Path::new("../../tests/fixtures"), "every_op", None);
    let (weights, _) = resc::weights::load(&path, &g).expect("resc reads it");
    let (x, shape) = input(m);
    let want = Engine::new(g, weights, engine::Options::default()).unwrap().run(&x, &shape).unwrap().data;
    resc::testing::assert_close("every_op_half.pth: burn against the engine", &got, &want, 1e-4);
}

#[test]
fn a_malicious_checkpoint_is_refused_and_nothing_runs() {
    // The pickle calls os.system("touch /tmp/resc-pth-was-run").
    let witness = Path::new("/tmp/resc-pth-was-run");
    std::fs::remove_file(witness).ok();
    let device = Device::flex();
    let err = match (every_op().load)(&device, &fixture("evil.pth")) {
        Ok(_) => panic!("evil.pth loaded"),
        Err(e) => e,
    };
    // burn's reader skips the object it cannot rebuild, so the tensor is missing.
    assert!(err.contains("lacks"), "{err}");
    assert!(!witness.exists());
}
