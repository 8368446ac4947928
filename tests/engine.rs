//! The engine against its references: compiled kernels against the plain
//! Rust definition, the compiled shape check against its interpreter, and
//! whole models against the reference interpreter, for every family.

use resc::backend::interp::{self, Tensor};
use resc::driver::{self, Options, Select};
use resc::engine::kernels::{self, KernelSpec, OperandKind, Stage};
use resc::engine::{self, Engine, EngineError, Kernels, jit, raw, shapecheck};
use resc::ir::Graph;
use resc::sema::Program;
use resc::testing::{Fixture, assert_close, compare_allowing_nan, fixture_weights, model_graph};
use resc::weights::Rng;

fn random(n: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n).map(|_| rng.uniform() * 3.0).collect()
}

fn specs() -> Vec<KernelSpec> {
    let s = |stages: &[Stage]| KernelSpec { stages: stages.to_vec() };
    let leaky = Stage::LeakyRelu(0.1f32.to_bits());
    let scale = Stage::MulConst(0.8f32.to_bits());
    let mut all: Vec<KernelSpec> = [
        Stage::Affine,
        Stage::Bias,
        Stage::ScaleChannel,
        Stage::AddTensor,
        Stage::MulTensor,
        scale,
        Stage::Relu,
        Stage::Relu6,
        leaky,
    ]
    .iter()
    .map(|st| s(&[*st]))
    .collect();
    all.push(s(&[Stage::Bias, Stage::AddTensor, Stage::Relu]));
    all.push(s(&[Stage::Affine, Stage::Relu]));
    all.push(s(&[Stage::Bias, scale, Stage::AddTensor, Stage::AddTensor, Stage::Relu6]));
    all.push(s(&[Stage::Affine, Stage::ScaleChannel, leaky, Stage::MulTensor]));
    all.push(s(&[]));
    all
}

/// Every test stage list, compiled together.
fn compiled_specs() -> (Vec<KernelSpec>, jit::Compiled) {
    let specs = specs();
    let mut j = jit::Jit::new().unwrap();
    for spec in &specs {
        j.kernel(spec).unwrap();
    }
    let compiled = j.finish(None).unwrap();
    (specs, compiled)
}

#[test]
fn compiled_kernels_equal_the_reference_for_every_length_and_tail() {
    let (specs, compiled) = compiled_specs();
    let mut rng = Rng::new(11);
    for spec in &specs {
        let f = compiled.table.kernel(spec);
        for channels in [1, 2, 3] {
            // Every tail of the 16-wide unrolled loop and of the 4-wide loop.
            for plane in 0..=37 {
                let len = channels * plane;
                let operands: Vec<Vec<f32>> = spec
                    .operand_kinds()
                    .iter()
                    .map(|k| random(if *k == OperandKind::PerChannel { channels } else { len }, &mut rng))
                    .collect();
                let ops: Vec<&[f32]> = operands.iter().map(|o| o.as_slice()).collect();
                let mut src = random(len, &mut rng);
                // The edges of each activation.
                if len > 3 {
                    src[0] = 0.0;
                    src[1] = -0.0;
                    src[2] = 6.0;
                }
                let mut want = vec![0.0; len];
                kernels::reference(spec, &mut want, Some(&src), &ops, channels, plane);
                let mut got = vec![f32::NAN; len + 5];
                raw::kernel(f, spec, &mut got, Some(&src), &ops, channels, plane);
                assert_eq!(&got[..len], &want[..], "{} over {channels}x{plane}", spec.describe());
                assert!(got[len..].iter().all(|v| v.is_nan()), "{} wrote past its end", spec.describe());
                // In place gives the same.
                let mut inplace = src.clone();
                raw::kernel(f, spec, &mut inplace, None, &ops, channels, plane);
                assert_eq!(inplace, want, "{} in place", spec.describe());
            }
        }
    }
}

#[test]
fn relu_compiles_to_a_vector_max_and_the_loop_to_vector_code() {
    let mut j = jit::Jit::new().unwrap();
    let code = j.disassemble(&KernelSpec { stages: vec![Stage::Bias, Stage::AddTensor, Stage::Relu] }).unwrap();
    // Compare-and-select becomes one max per vector: no NaN-exact sequence, no calls.
    assert!(code.contains("maxps"), "{code}");
    assert!(!code.lines().any(|l| l.trim_start().starts_with("call")), "{code}");
    // Four unrolled vector loads of the input and of the residual in the
    // main loop, and no address arithmetic beyond scaled indexing.
    assert!(code.matches("movups").count() >= 8, "{code}");
    assert!(!code.contains("imul"), "{code}");
}

#[test]
fn identical_kernels_are_compiled_once() {
    let mut j = jit::Jit::new().unwrap();
    let spec = KernelSpec { stages: vec![Stage::Bias, Stage::Relu] };
    j.kernel(&spec).unwrap();
    j.kernel(&spec.clone()).unwrap();
    j.kernel(&KernelSpec { stages: vec![Stage::Bias] }).unwrap();
    assert_eq!(j.finish(None).unwrap().table.kernel_count, 2);
}

fn stdlib_graph(module: &str, model: &str, input: Option<Vec<u64>>) -> Graph {
    if module.ends_with(".res") {
        let prog = Program::load_path(std::path::Path::new(module)).unwrap();
        let opts = Options { input, ..Default::default() };
        return driver::compile_with(&prog, Select::Named(model), &opts).expect("compiles").remove(0);
    }
    let prog = Program::load_text(&resc::stdlib::display_name(module), None, resc::stdlib::source(module).unwrap());
    let opts = Options { input, ..Default::default() };
    driver::compile_with(&prog, Select::Named(model), &opts).expect("compiles").remove(0)
}

/// The model compiled at `input`, or the front end's first error.
fn front_end(module: &str, model: &str, input: Vec<u64>) -> Result<Graph, String> {
    let prog = Program::load_text(&resc::stdlib::display_name(module), None, resc::stdlib::source(module).unwrap());
    let opts = Options { input: Some(input), ..Default::default() };
    driver::compile_with(&prog, Select::Named(model), &opts)
        .map(|mut gs| gs.remove(0))
        .map_err(|d| d.first().map_or_else(|| "no diagnostic".into(), |d| d.to_string()))
}

fn all_models() -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for module in resc::stdlib::NAMES {
        let prog = Program::load_text(&resc::stdlib::display_name(module), None, resc::stdlib::source(module).unwrap());
        for g in driver::compile(&prog, Select::Root).unwrap() {
            out.push((*module, g.name.clone()));
        }
    }
    out
}

#[test]
fn the_compiled_shape_check_agrees_with_its_interpreter_and_the_front_end() {
    for (module, model) in all_models() {
        let g = stdlib_graph(module, &model, None);
        let p = shapecheck::build(&g);
        let mut j = jit::Jit::new().unwrap();
        let id = j.shape_check(&p).unwrap();
        let f = j.finish(Some(id)).unwrap();
        let f_addr = f.table.shape_check().unwrap();
        let declared = g.node(g.input).shape.concrete(1);
        for (h, w) in [(declared[2], declared[3]), (64, 48), (33, 33), (7, 7), (1, 1), (0, 5)] {
            let input = [2, declared[1] as i64, h as i64, w as i64];
            let (mut a, mut b) = (vec![0; p.slots], vec![0; p.slots]);
            let want = shapecheck::eval(&p, input, &mut a);
            let got = raw::shape_check(f_addr, input, &mut b, p.slots);
            assert_eq!(got, want, "{model} at {h}x{w}");
            assert_eq!(a, b, "{model} at {h}x{w}");
            // The front end accepts exactly the sizes the check accepts, and
            // then its shapes are the check's.
            let front = front_end(module, &model, vec![2, declared[1], h, w]);
            assert_eq!(
                front.is_ok(),
                want.is_ok(),
                "{model} at {h}x{w}: front end {:?}, check {want:?}",
                front.as_ref().err()
            );
            if let Ok(at) = front {
                for (i, &ix) in at.order.iter().enumerate() {
                    let s = at.node(ix).shape.concrete(2);
                    let got: Vec<u64> = a[i * 4..i * 4 + s.len()].iter().map(|&d| d as u64).collect();
                    assert_eq!(got, s, "{model} at {h}x{w}: `{}`", at.node(ix).name);
                }
            }
        }
        // The declared size passes.
        let mut out = vec![0; p.slots];
        assert!(
            shapecheck::eval(&p, [1, declared[1] as i64, declared[2] as i64, declared[3] as i64], &mut out).is_ok()
        );
    }
}

/// The engine (fusion on and off, one and two threads) against the
/// reference interpreter, on the same weights and input.
fn agree(module: &str, model: &str, input: [usize; 4]) {
    let at = stdlib_graph(module, model, Some(input.iter().map(|&d| d as u64).collect()));
    let weights = fixture_weights(&at);
    let x = resc::weights::synthetic_input(input.iter().product());
    let want = interp::run(&at, &weights, &Tensor::new(input.to_vec(), x.clone())).unwrap();
    // Each switch on and off across the four runs: fusion, folding, one and
    // two threads, Winograd, each width of the engine's own kernels (the
    // best the CPU has, AVX2 at most, portable), and on two threads the
    // batch split across them or each sample's work.
    let runs = [
        (true, true, 2, true, Kernels::Avx512, true),
        (false, true, 1, true, Kernels::Portable, true),
        (true, false, 1, false, Kernels::Avx512, true),
        (false, false, 2, true, Kernels::Avx2, false),
    ];
    for (fuse, fold_bn, threads, winograd, kernels, split_batch) in runs {
        // The engine compiles the model at its declared size and runs any size.
        let g = stdlib_graph(module, model, None);
        let options = engine::Options { fuse, fold_bn, threads, winograd, kernels, split_batch, ..Default::default() };
        let mut e = Engine::new(g, weights.clone(), options).unwrap();
        let y = e.run(&x, &input).unwrap();
        assert_eq!(y.shape, want.shape, "{model}");
        let what = format!(
            "{model} (fuse {fuse}, fold {fold_bn}, {threads} threads, winograd {winograd}, kernels {kernels:?}, split {split_batch})"
        );
        assert_close(&what, &y.data, &want.data, 1e-4);
        // A second run reuses the plan and gives the same.
        assert_eq!(e.run(&x, &input).unwrap(), y, "{model} run twice");
    }
}

/// The engine against PyTorch's stored outputs: the logits of the whole
/// model and the features of the model cut before its classifier.
fn matches_pytorch(model: &str) {
    let f = Fixture::read(&std::path::Path::new("tests/fixtures/numerics").join(format!("{model}.json"))).unwrap();
    let g = model_graph(std::path::Path::new("tests/fixtures"), model, None);
    let cut = resc::passes::features::up_to_classifier(&g).expect("a classifier");
    let x = resc::weights::synthetic_input(f.input.iter().product());
    for (fuse, fold_bn) in [(true, true), (false, true), (true, false), (false, false)] {
        let options = engine::Options { fuse, fold_bn, ..Default::default() };
        for (graph, want, what) in [(&g, &f.logits, "logits"), (&cut, &f.features, "features")] {
            let mut e = Engine::new(graph.clone(), fixture_weights(graph), options.clone()).unwrap();
            let y = e.run(&x, &f.input).unwrap_or_else(|e| panic!("{model}: {e}"));
            let what = format!("{model} {what}, fuse {fuse}, fold {fold_bn} ({})", f.made_by);
            assert_close(&what, &y.data, want, 1e-4);
        }
    }
}

#[test]
fn every_op_and_activation_matches_pytorch() {
    matches_pytorch("every_op");
}

#[test]
fn torchvision_models_match_pytorch() {
    matches_pytorch("resnet18");
    matches_pytorch("resnext50_32x4d");
    matches_pytorch("densenet121");
}

#[test]
fn timm_models_match_pytorch() {
    for model in ["resnetv2_50", "dpn68", "resnest14d", "resnest50d_4s2x40d", "resnest50d_1s4x24d"] {
        matches_pytorch(model);
    }
}

/// timm's wider family: squeeze-excitation, efficient channel attention's
/// channel conv, BiT's weight-standardised convs, group norm and constant
/// padding, blur pools, selective kernels (split input, dilated path,
/// softmax over the paths), and global context (attention pooling, layer
/// norm, a pooled tensor added at every position).
#[test]
fn timm_variants_match_pytorch() {
    for model in ["seresnet50", "ecaresnet50d", "resnetv2_50x1_bit", "resnetblur50", "skresnet18", "gcresnet50t"] {
        matches_pytorch(model);
    }
}

/// The benchmarked models, at the size they are benchmarked at.
fn agree_at_224(model: &str) {
    let module = resc::stdlib::NAMES
        .iter()
        .find(|m| resc::stdlib::source(m).unwrap().contains(&format!("model {model} ")))
        .unwrap();
    agree_once(module, model, [1, 3, 224, 224]);
}

/// As [`agree`], with fusion on and both threads only: the interpreter takes
/// seconds per model at this size.
fn agree_once(module: &str, model: &str, input: [usize; 4]) {
    let g = stdlib_graph(module, model, None);
    let weights = fixture_weights(&g);
    let x = resc::weights::synthetic_input(input.iter().product());
    let want = interp::run(&g, &weights, &Tensor::new(input.to_vec(), x.clone())).unwrap();
    let mut e = Engine::new(g, weights, engine::Options { threads: 2, ..Default::default() }).unwrap();
    let y = e.run(&x, &input).unwrap();
    assert_close(&format!("{model} at 224x224"), &y.data, &want.data, 1e-4);
}

#[test]
fn resnet50_at_224_matches_the_interpreter() {
    agree_at_224("resnet50");
}

#[test]
fn resnet18_at_224_matches_the_interpreter() {
    agree_at_224("resnet18");
}

#[test]
fn densenet121_at_224_matches_the_interpreter() {
    agree_at_224("densenet121");
}

#[test]
fn resnext50_at_224_matches_the_interpreter() {
    agree_at_224("resnext50_32x4d");
}

#[test]
fn resnet_and_stochastic_depth_match_the_interpreter() {
    agree("resnet", "resnet20", [3, 3, 32, 32]);
    agree("stochastic_depth", "resnet110_sd", [2, 3, 16, 16]);
}

#[test]
fn resnetv2_and_wide_resnet_match_the_interpreter() {
    agree("resnetv2", "preact_resnet164", [2, 3, 16, 16]);
    agree("wide_resnet", "wrn_16_8", [1, 3, 16, 16]);
}

#[test]
fn resnext_matches_the_interpreter() {
    agree("resnext", "resnext29_8x64d", [1, 3, 8, 8]);
}

#[test]
fn densenet_matches_the_interpreter() {
    agree("densenet", "densenet_bc100_k12", [3, 3, 16, 16]);
    agree("densenet", "densenet40_k12", [1, 3, 8, 8]);
}

#[test]
fn dpn_and_resnest_match_the_interpreter() {
    agree("dpn", "dpn68", [2, 3, 32, 32]);
    agree("resnest", "resnest14d", [1, 3, 32, 32]);
    agree("resnest", "resnest50d_4s2x40d", [1, 3, 32, 32]);
}

/// timm's variants: squeeze-excitation (a broadcast multiply by a gate), the
/// deep and tiered stems, average-pool shortcuts, ResNet-RS's conv stem pool.
#[test]
fn timm_variants_match_the_interpreter() {
    agree("attention", "seresnet18", [2, 3, 32, 32]);
    agree("attention", "resnetrs50", [1, 3, 32, 32]);
    agree("resnet_d", "resnet26t", [1, 3, 24, 40]);
    agree("attention", "ecaresnet26t", [1, 3, 32, 32]);
}

/// Efficient channel attention's conv across channels: 1 to 15 taps, on 6
/// and 12 channels, at two sizes.
#[test]
fn channel_conv_matches_the_interpreter() {
    agree("tests/fixtures/channel_conv.res", "cc_net", [3, 3, 11, 14]);
    agree("tests/fixtures/channel_conv.res", "cc_net", [1, 3, 20, 9]);
}

/// Weight-standardised convs, constant padding and blur pools (2 to 5 taps,
/// strides 1 to 3) at the declared size and at others.
#[test]
fn std_conv_pad_and_blur_pool_match_the_interpreter() {
    agree("tests/fixtures/downsampling.res", "down_net", [2, 3, 29, 23]);
    agree("tests/fixtures/downsampling.res", "down_net", [1, 3, 40, 17]);
}

#[test]
fn unusual_convs_pools_and_activations_match_the_interpreter() {
    // At the declared size and at another one the shape check accepts.
    agree("tests/fixtures/odd_ops.res", "odd_net", [3, 3, 29, 23]);
    agree("tests/fixtures/odd_ops.res", "odd_net", [1, 3, 40, 31]);
}

/// hard_swish, hard_sigmoid and mish: unary passes of the engine, after a
/// conv, in a residual branch and as a squeeze-excitation gate.
#[test]
fn the_activations_without_kernels_match_the_interpreter() {
    agree("tests/fixtures/activations.res", "act_net", [2, 3, 17, 19]);
    agree("tests/fixtures/activations.res", "act_net", [1, 3, 24, 9]);
}

/// Group norm: 1 to 16 groups, a non-default eps, at two sizes.
#[test]
fn group_norm_matches_the_interpreter() {
    agree("tests/fixtures/group_norm.res", "gn_net", [2, 3, 15, 13]);
    agree("tests/fixtures/group_norm.res", "gn_net", [1, 3, 8, 21]);
}

#[test]
fn a_value_read_twice_by_an_elementwise_op_matches_the_interpreter() {
    agree("tests/fixtures/square.res", "sq", [2, 3, 4, 4]);
}

#[test]
fn an_output_read_before_the_last_step_is_not_overwritten() {
    agree("tests/fixtures/output_read_early.res", "early", [2, 4, 3, 3]);
}

#[test]
fn inputs_that_do_not_fit_are_named_errors_before_anything_runs() {
    let g = stdlib_graph("resnet", "resnet50", None);
    let weights = resc::weights::random(&g, 1);
    let mut e = Engine::new(g, weights, engine::Options::default()).unwrap();
    let err = e.run(&[0.0; 3 * 8], &[1, 3, 8]).map(|_| ()).unwrap_err();
    assert!(matches!(err, EngineError::InputRank(_)), "{err}");
    let err = e.run(&vec![0.0; 4 * 64 * 64], &[1, 4, 64, 64]).map(|_| ()).unwrap_err();
    assert_eq!(err.to_string(), "the model takes 3 input channels, the input has 4");
    let g = stdlib_graph("densenet", "densenet121", None);
    let mut d = Engine::new(
        g,
        resc::weights::random(&stdlib_graph("densenet", "densenet121", None), 1),
        engine::Options::default(),
    )
    .unwrap();
    let err = d.run(&[0.0; 3 * 16 * 16], &[1, 3, 16, 16]).map(|_| ()).unwrap_err();
    let EngineError::Shape { message, node, .. } = &err else { panic!("{err}") };
    assert_eq!(
        message,
        "`features.transition3.pool` (avgpool 2x2/2) needs an input of at least 2x2; its input is [1, 512, 1, 1]"
    );
    assert_eq!(d.graph().node(*node).name, "features.transition3.pool");
    let err = e.run(&[0.0; 5], &[1, 3, 64, 64]).map(|_| ()).unwrap_err();
    assert!(matches!(err, EngineError::InputSize { .. }), "{err}");
    // Absurd sizes are refused, not allocated.
    let err = e.check(&[1 << 20, 3, 1 << 31, 1 << 20]).map(|_| ()).err();
    assert!(err.is_some());
    let small = engine::Options { memory_limit: 1 << 20, ..Default::default() };
    let g = stdlib_graph("resnet", "resnet50", None);
    let mut e = Engine::new(g, resc::weights::random(&stdlib_graph("resnet", "resnet50", None), 1), small).unwrap();
    let err = e.run(&vec![0.0; 3 * 224 * 224], &[1, 3, 224, 224]).map(|_| ()).unwrap_err();
    assert!(matches!(err, EngineError::TooLarge(_)), "{err}");
}

#[test]
fn missing_or_misshapen_weights_are_errors() {
    let g = stdlib_graph("resnet", "resnet20", None);
    let mut weights = fixture_weights(&g);
    weights.remove("layer2.1.bn2.running_var");
    let err = Engine::new(g.clone(), weights.clone(), engine::Options::default()).err().unwrap();
    assert_eq!(err.to_string(), "the weights lack `layer2.1.bn2.running_var`");
    weights.insert("layer2.1.bn2.running_var".into(), vec![1.0; 31]);
    let err = Engine::new(g, weights, engine::Options::default()).err().unwrap();
    assert_eq!(err.to_string(), "`layer2.1.bn2.running_var` has 31 values where 32 were expected");
}

/// NaN in, NaN out: a diverged checkpoint must not look clean. Every kernel
/// keeps a NaN where its input had one (ReLU and ReLU6 included: compare and
/// select with the input as the operand that wins on NaN), and so does the
/// plain reference.
#[test]
fn kernels_keep_nan() {
    let (specs, compiled) = compiled_specs();
    let mut rng = Rng::new(5);
    let (channels, plane) = (2, 37);
    let len = channels * plane;
    for spec in &specs {
        let f = compiled.table.kernel(spec);
        let operands: Vec<Vec<f32>> = spec
            .operand_kinds()
            .iter()
            .map(|k| random(if *k == OperandKind::PerChannel { channels } else { len }, &mut rng))
            .collect();
        let ops: Vec<&[f32]> = operands.iter().map(|o| o.as_slice()).collect();
        let mut src = random(len, &mut rng);
        let holes = [0, 5, 16, 17, 36, 40, len - 1];
        for &i in &holes {
            src[i] = f32::NAN;
        }
        let mut want = vec![0.0; len];
        kernels::reference(spec, &mut want, Some(&src), &ops, channels, plane);
        let mut got = vec![0.0; len];
        raw::kernel(f, spec, &mut got, Some(&src), &ops, channels, plane);
        for i in 0..len {
            if holes.contains(&i) {
                assert!(want[i].is_nan(), "{}: the reference lost the NaN at {i}", spec.describe());
                assert!(got[i].is_nan(), "{}: the kernel lost the NaN at {i}: {}", spec.describe(), got[i]);
            } else {
                assert_eq!(got[i].to_bits(), want[i].to_bits(), "{} at {i}", spec.describe());
            }
        }
    }
}

/// A NaN in one sample reaches every output of that sample and nothing of
/// the others, in the engine as in the interpreter.
#[test]
fn a_nan_in_the_input_reaches_every_output_of_its_sample_only() {
    let input = [2usize, 3, 32, 32];
    let g = stdlib_graph("resnet", "resnet20", None);
    let weights = fixture_weights(&g);
    let mut x = resc::weights::synthetic_input(input.iter().product());
    x[500] = f32::NAN;
    let want = interp::run(&g, &weights, &Tensor::new(input.to_vec(), x.clone())).unwrap();
    // The global average pool mixes every position, so every logit of sample 0 depends on it.
    let (first, second) = want.data.split_at(10);
    assert!(first.iter().all(|v| v.is_nan()), "the interpreter lost the NaN: {first:?}");
    assert!(second.iter().all(|v| v.is_finite()), "the NaN leaked into the other sample: {second:?}");
    for fuse in [true, false] {
        let options = engine::Options { fuse, threads: 1, ..Default::default() };
        let mut e = Engine::new(stdlib_graph("resnet", "resnet20", None), weights.clone(), options).unwrap();
        let y = e.run(&x, &input).unwrap();
        compare_allowing_nan(&y.data, &want.data, 1e-4).unwrap_or_else(|m| panic!("fuse {fuse}: {m}"));
    }
    // Through max pools too: resnet18's stem pools before anything mixes.
    let g = stdlib_graph("resnet", "resnet18", Some(vec![1, 3, 64, 64]));
    let weights = fixture_weights(&g);
    let mut x = resc::weights::synthetic_input(3 * 64 * 64);
    x[2000] = f32::NAN;
    let mut e = Engine::new(stdlib_graph("resnet", "resnet18", None), weights, engine::Options::default()).unwrap();
    let y = e.run(&x, &[1, 3, 64, 64]).unwrap();
    assert!(y.data.iter().all(|v| v.is_nan()), "resnet18 lost the NaN: {:?}", &y.data[..4]);
}

/// Errors of the engine and the interpreter carry their own codes.
#[test]
fn weight_errors_are_coded() {
    use miette::Diagnostic;
    let g = model_graph(std::path::Path::new("tests/fixtures"), "resnet20", None);
    let mut weights = fixture_weights(&g);
    weights.remove("fc.bias");
    let code = |d: &dyn Diagnostic| d.code().map(|c| c.to_string());
    let err = Engine::new(g.clone(), weights.clone(), engine::Options::default()).err().expect("a missing tensor");
    assert_eq!(code(&err).as_deref(), Some("resc::weights::missing"), "{err}");
    let x = Tensor::new(vec![1, 3, 32, 32], vec![0.0; 3 * 32 * 32]);
    let err = interp::run(&g, &weights, &x).expect_err("a missing tensor");
    assert_eq!(code(&err).as_deref(), Some("resc::interp::missing_weight"), "{err}");
    weights.insert("fc.bias".into(), vec![0.0; 3]);
    let err = interp::run(&g, &weights, &x).expect_err("a short tensor");
    assert_eq!(code(&err).as_deref(), Some("resc::interp::weight_size"), "{err}");
}

/// The per-layer profile: one entry per step in the order they run, each
/// run counted once per step, and the same time and flops as the per-kind
/// profile in total.
#[test]
fn the_layer_profile_covers_every_step_once_and_agrees_with_the_kinds() {
    let g = stdlib_graph("resnet", "resnet20", None);
    let weights = resc::weights::random(&g, 3);
    let mut e = Engine::new(g, weights, engine::Options { threads: 2, ..Default::default() }).unwrap();
    let x = resc::weights::synthetic_input(2 * 3 * 32 * 32);
    e.run(&x, &[2, 3, 32, 32]).unwrap();
    e.set_profiling(true);
    for _ in 0..3 {
        e.run(&x, &[2, 3, 32, 32]).unwrap();
    }
    let layers = e.layers();
    assert_eq!(layers.len(), e.steps());
    assert!(layers.iter().all(|l| l.profiled.steps == 3 && l.dims[0] == 2), "{layers:?}");
    assert_eq!(layers.first().map(|l| l.name.as_str()), Some("conv1"));
    assert_eq!(layers.last().map(|l| (l.name.as_str(), l.dims)), Some(("fc", [2, 10, 1, 1])));
    let kinds = e.profile();
    let time = |t: std::time::Duration| t.as_nanos();
    let flops_by_kind: u64 = kinds.iter().map(|k| k.1.flops).sum();
    assert_eq!(layers.iter().map(|l| l.profiled.flops).sum::<u64>(), flops_by_kind);
    assert_eq!(
        layers.iter().map(|l| time(l.profiled.time)).sum::<u128>(),
        kinds.iter().map(|k| time(k.1.time)).sum::<u128>()
    );
    for (kind, p) in &kinds {
        let steps: usize = layers.iter().filter(|l| &l.kind == kind).map(|l| l.profiled.steps).sum();
        assert_eq!(steps, p.steps, "{kind}");
    }
    // Turned off, nothing is recorded.
    e.set_profiling(false);
    assert!(e.layers().is_empty());
}

/// A batch split across two threads: a lane of one sample per thread side
/// by side, the odd sample after them on both; the same output as each
/// sample's work split, and the profile counts each step once per run with
/// the whole batch's flops.
#[test]
fn a_batch_splits_across_threads_with_the_same_output_and_profile() {
    let g = stdlib_graph("resnet", "resnet20", None);
    let weights = resc::weights::random(&g, 4);
    let shape = [5, 3, 32, 32];
    let x = resc::weights::synthetic_input(shape.iter().product());
    let mut runs = Vec::new();
    for split_batch in [true, false] {
        let options = engine::Options { threads: 2, split_batch, ..Default::default() };
        let mut e = Engine::new(g.clone(), weights.clone(), options).unwrap();
        e.set_profiling(true);
        let y = e.run(&x, &shape).unwrap();
        let flops: u64 = e.layers().iter().map(|l| l.profiled.flops).sum();
        assert!(e.layers().iter().all(|l| l.profiled.steps == 1 && l.dims[0] == 5));
        runs.push((y, e.lanes(), flops));
    }
    assert_eq!(runs[0].1, vec![(0, 2, 1), (2, 2, 1), (4, 1, 2)]);
    assert_eq!(runs[1].1, vec![(0, 5, 2)]);
    assert_eq!(runs[0].0.shape, vec![5, 10]);
    assert_close("split against not", &runs[0].0.data, &runs[1].0.data, 1e-6);
    assert_eq!(runs[0].2, runs[1].2);
    // Each sample is its own: the split run's samples differ from each other.
    let (a, b) = runs[0].0.data.split_at(10);
    assert_ne!(a, &b[..10]);
}

/// Small maps run their GEMM convolutions over the batch (1x1 convs by a
/// copy, 3x3 and strided ones by im2col, the samples' columns side by
/// side): resnet50 at 64x64 has 8x8 maps and smaller from layer2 on. One
/// thread (one lane of the whole batch) and two with the batch kept
/// together, against the interpreter.
#[test]
fn small_maps_over_the_batch_match_the_interpreter() {
    let input = [3, 3, 64, 64];
    let at = stdlib_graph("resnet", "resnet50", Some(input.iter().map(|&d| d as u64).collect()));
    let g = stdlib_graph("resnet", "resnet50", None);
    let weights = fixture_weights(&g);
    let x = resc::weights::synthetic_input(input.iter().product());
    let want = interp::run(&at, &weights, &Tensor::new(input.to_vec(), x.clone())).unwrap();
    for (threads, split_batch) in [(1, true), (2, false)] {
        let options = engine::Options { threads, split_batch, ..Default::default() };
        let mut e = Engine::new(g.clone(), weights.clone(), options).unwrap();
        assert_eq!(e.run(&x, &input).unwrap().data.len(), want.data.len());
        let y = e.run(&x, &input).unwrap();
        assert_close(&format!("resnet50 at 64x64, batch 3, {threads} threads"), &y.data, &want.data, 1e-4);
    }
}
