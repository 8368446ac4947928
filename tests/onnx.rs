//! ONNX export checked by a second, independent runtime: tract runs the
//! exported model of every family, and its output must match resc's engine
//! for the same weights and input. The structure is checked with the ONNX
//! checker's rules, and the names with the state_dict's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use prost::Message;
use resc::backend::onnx::{self, check, proto};
use resc::engine::{self, Engine};
use resc::ir::Graph;
use resc::testing::{assert_close, model_graph};
use tract_onnx::prelude::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn input(g: &Graph, batch: usize, seed: u64) -> (Vec<usize>, Vec<f32>) {
    let shape: Vec<usize> = g.node(g.input).shape.concrete(batch as u64).iter().map(|&d| d as usize).collect();
    let mut rng = resc::weights::Rng::new(seed);
    let n = shape.iter().product();
    (shape, (0..n).map(|_| rng.uniform() * 2.0 - 1.0).collect())
}

/// resc's engine (what `resc run` uses), BN folding on, on this input.
fn engine_output(g: &Graph, weights: &HashMap<String, Vec<f32>>, shape: &[usize], x: &[f32]) -> Vec<f32> {
    let mut eng = Engine::new(g.clone(), weights.clone(), engine::Options::default()).expect("engine");
    eng.run(x, shape).expect("engine run").data
}

/// tract's output: the model is analysed with the batch dimension left
/// symbolic, so shape inference must succeed without a concrete batch.
fn tract_output(bytes: &[u8], shape: &[usize], x: &[f32]) -> TractResult<Vec<f32>> {
    let model = tract_onnx::onnx().model_for_read(&mut &bytes[..])?.into_optimized()?.into_runnable()?;
    let t = Tensor::from_shape(shape, x)?;
    let out = model.run(tvec!(t.into()))?;
    Ok(out[0].to_plain_array_view::<f32>()?.iter().copied().collect())
}

fn state_dict_keys(g: &Graph) -> Vec<String> {
    resc::passes::state(g).into_iter().map(|e| e.name).collect()
}

fn op_types(m: &proto::ModelProto) -> Vec<String> {
    m.graph.as_ref().unwrap().node.iter().map(|n| n.op_type.clone().unwrap_or_default()).collect()
}

/// Exports `model` (BN kept, then folded) and runs it in tract at batch 1 and
/// 2 against the engine.
fn agrees(model: &str, size: Option<&[usize]>) {
    let g = model_graph(&fixtures(), model, size);
    let weights = resc::weights::random(&g, 11);
    for fold_bn in [false, true] {
        let m = onnx::model(&g, &weights, onnx::Options { fold_bn }).expect("export");
        assert_eq!(check::problems(&m), Vec::<String>::new(), "{model}");
        let bytes = m.encode_to_vec();
        for batch in [1, 2] {
            let (shape, x) = input(&g, batch, 5 + batch as u64);
            let want = engine_output(&g, &weights, &shape, &x);
            let got = tract_output(&bytes, &shape, &x).unwrap_or_else(|e| panic!("{model}: tract: {e:?}"));
            assert_close(&format!("{model} fold_bn={fold_bn} batch {batch}"), &got, &want, 1e-4);
        }
    }
}

#[test]
fn resnet_and_option_a_shortcuts() {
    agrees("resnet18", Some(&[1, 3, 64, 64]));
    agrees("resnet20", None);
}

#[test]
fn preactivation_and_wide() {
    agrees("resnetv2_50", Some(&[1, 3, 64, 64]));
    agrees("wrn_16_8", None);
}

#[test]
fn grouped_convolutions() {
    agrees("resnext50_32x4d", Some(&[1, 3, 64, 64]));
}

#[test]
fn stochastic_depth_both_conventions() {
    agrees("resnet110_sd", None);
    agrees("resnet50_dp", Some(&[1, 3, 64, 64]));
}

#[test]
fn dense_and_dual_path() {
    agrees("densenet40_k12", None);
    agrees("dpn68", Some(&[1, 3, 64, 64]));
}

#[test]
fn split_attention() {
    agrees("resnest14d", Some(&[1, 3, 64, 64]));
    agrees("resnest50d_1s4x24d", Some(&[1, 3, 64, 64]));
}

/// Every op and activation of the language, ceil-mode pools with and
/// without counted padding among them, and odd sizes.
/// timm's variants: squeeze-excitation's broadcast multiply, the deep stem,
/// average-pool shortcuts with ceil mode, ResNet-RS's conv stem pool.
#[test]
fn timm_variants() {
    agrees("seresnet18", Some(&[1, 3, 64, 64]));
    agrees("resnetrs50", Some(&[1, 3, 64, 64]));
    // BiT: std_conv folded into the initializers, group norm, the zero pad.
    agrees("resnetv2_50x1_bit", Some(&[1, 3, 64, 64]));
    agrees("resnetblur50", Some(&[1, 3, 64, 64]));
    agrees("skresnet18", Some(&[1, 3, 64, 64]));
    agrees("gcresnet50t", Some(&[1, 3, 64, 64]));
}

#[test]
fn every_op_and_odd_sizes() {
    agrees("every_op", None);
    agrees("odd_net", None);
    agrees("act_net", None);
    agrees("gn_net", None);
    agrees("cc_net", None);
    agrees("down_net", None);
}

#[test]
fn initializers_are_the_state_dict() {
    let g = model_graph(&fixtures(), "resnet50", None);
    let weights = resc::weights::random(&g, 1);
    let m = onnx::model(&g, &weights, onnx::Options::default()).unwrap();
    let graph = m.graph.as_ref().unwrap();
    let names: Vec<String> = graph.initializer.iter().map(|t| t.name.clone().unwrap()).collect();
    assert_eq!(names, state_dict_keys(&g));
    for t in &graph.initializer {
        let name = t.name.as_deref().unwrap();
        let raw = t.raw_data.as_ref().unwrap();
        let values: Vec<f32> = raw.chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        assert_eq!(values, weights[name], "{name}");
    }
    assert_eq!(m.opset_import[0].version, Some(onnx::OPSET));
    // Input and output keep the batch symbolic, named as in the model.
    for v in graph.input.iter().chain(&graph.output) {
        let Some(proto::type_proto::Value::TensorType(t)) = &v.r#type.as_ref().unwrap().value else { panic!() };
        let first = &t.shape.as_ref().unwrap().dim[0];
        assert_eq!(first.value, Some(proto::tensor_shape_proto::dimension::Value::DimParam("N".into())));
    }
    assert_eq!(graph.output[0].name.as_deref(), Some("output"));
}

#[test]
fn folding_removes_every_batch_norm_after_a_conv() {
    let g = model_graph(&fixtures(), "resnet50", None);
    let weights = resc::weights::random(&g, 1);
    let kept = onnx::model(&g, &weights, onnx::Options { fold_bn: false }).unwrap();
    let folded = onnx::model(&g, &weights, onnx::Options { fold_bn: true }).unwrap();
    assert_eq!(op_types(&kept).iter().filter(|o| *o == "BatchNormalization").count(), 53);
    assert!(!op_types(&folded).iter().any(|o| o == "BatchNormalization"));
    let names: Vec<String> =
        folded.graph.as_ref().unwrap().initializer.iter().map(|t| t.name.clone().unwrap()).collect();
    assert!(names.contains(&"conv1.weight".to_string()) && names.contains(&"bn1.bias".to_string()));
    assert!(!names.iter().any(|n| n.ends_with("running_mean")));
    // Pre-activation networks keep the norms no convolution precedes alone.
    let g = model_graph(&fixtures(), "densenet40_k12", None);
    let folded = onnx::model(&g, &resc::weights::random(&g, 1), onnx::Options { fold_bn: true }).unwrap();
    assert!(op_types(&folded).iter().any(|o| o == "BatchNormalization"));
}

#[test]
fn dropout_and_drop_path_vanish_at_inference() {
    for model in ["resnet50_dp", "densenet40_k12", "every_op"] {
        let g = model_graph(&fixtures(), model, None);
        let m = onnx::model(&g, &resc::weights::random(&g, 1), onnx::Options::default()).unwrap();
        let ops = op_types(&m);
        assert!(ops.iter().all(|o| check::OPS.contains(&o.as_str())), "{model}: {ops:?}");
        assert!(!ops.iter().any(|o| o == "Dropout" || o == "RandomUniform" || o == "Bernoulli"), "{model}");
    }
    // The paper's convention scales by the survival probability at test time.
    let g = model_graph(&fixtures(), "resnet110_sd", None);
    let m = onnx::model(&g, &resc::weights::random(&g, 1), onnx::Options::default()).unwrap();
    let consts = m.graph.unwrap().node.iter().filter(|n| n.output[0].ends_with(".survival")).count();
    assert_eq!(consts, 54);
}

/// The checker's rules catch what they are meant to: a node moved before its
/// input, a name used twice, an initializer of the wrong size, a foreign op.
#[test]
fn the_checker_rejects_broken_models() {
    let g = model_graph(&fixtures(), "resnet20", None);
    let good = onnx::model(&g, &resc::weights::random(&g, 1), onnx::Options::default()).unwrap();
    let broken = |f: &dyn Fn(&mut proto::GraphProto)| {
        let mut m = good.clone();
        f(m.graph.as_mut().unwrap());
        check::problems(&m)
    };
    assert!(broken(&|g| g.node.swap(0, 3)).iter().any(|p| p.contains("before anything defines it")));
    assert!(broken(&|g| g.node[4].output[0] = g.node[2].output[0].clone()).iter().any(|p| p.contains("twice")));
    assert!(broken(&|g| g.initializer[0].dims[0] += 1).iter().any(|p| p.contains("bytes for dims")));
    assert!(broken(&|g| g.node[1].op_type = Some("MyOp".into())).iter().any(|p| p.contains("not a standard op")));
    assert!(broken(&|g| g.output[0].name = Some("nothing".into())).iter().any(|p| p.contains("nothing defines")));
}

fn resc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_resc")).args(args).output().expect("run resc")
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("resc-onnx-{}-{name}", std::process::id()))
}

/// As a user would: `resc build --emit onnx` and `resc run` on the same
/// weights file and input agree in tract.
#[test]
fn cli_export_matches_resc_run() {
    let (onnx_path, weights_path, x_path, y_path) = (tmp("m.onnx"), tmp("w.safetensors"), tmp("x.npy"), tmp("y.npy"));
    let g = model_graph(&fixtures(), "resnet20", None);
    let weights = resc::weights::random(&g, 3);
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = resc::passes::state(&g)
        .into_iter()
        .map(|e| {
            let bytes = weights[&e.name].iter().flat_map(|v| v.to_le_bytes()).collect();
            (e.name, e.shape.iter().map(|&d| d as usize).collect(), bytes)
        })
        .collect();
    let views = tensors.iter().map(|(k, shape, b)| {
        (k.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), b).unwrap())
    });
    safetensors::serialize_to_file(views, None, &weights_path).unwrap();
    let (shape, x) = input(&g, 2, 9);
    resc::npy::write_f32(&x_path, &shape, &x).unwrap();
    let w = weights_path.to_str().unwrap();
    let out =
        resc(&["build", "--model", "resnet20", "--emit", "onnx", "--weights", w, "-o", onnx_path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = resc(&[
        "run",
        "--model",
        "resnet20",
        "--weights",
        w,
        "--input",
        x_path.to_str().unwrap(),
        "-o",
        y_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let want: Vec<f32> = npyz::NpyFile::new(&std::fs::read(&y_path).unwrap()[..]).unwrap().into_vec().unwrap();
    let got = tract_output(&std::fs::read(&onnx_path).unwrap(), &shape, &x).unwrap();
    assert_close("resnet20 via the CLI", &got, &want, 1e-4);
    // Without weights: random ones, said so; other emits refuse the flag.
    let out = resc(&["build", "--model", "resnet20", "--emit", "onnx", "-o", onnx_path.to_str().unwrap()]);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stderr).contains("random weights (seed 0)"));
    let out = resc(&["build", "--model", "resnet20", "--emit", "ir", "--fold-bn"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("resc::build::onnx_only"));
    for p in [onnx_path, weights_path, x_path, y_path] {
        let _ = std::fs::remove_file(p);
    }
}
