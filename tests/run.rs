//! `resc run`: weights and inputs from files, and every way they can be wrong.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use resc::driver::{self, Select};
use resc::sema::Program;

fn resc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_resc")).args(args).output().expect("run resc")
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("resc-run-{}-{name}", std::process::id()))
}

fn resnet20_weights(seed: u64) -> HashMap<String, Vec<f32>> {
    let prog = Program::load_text("stdlib/resnet.res", None, resc::stdlib::source("resnet").unwrap());
    let g = driver::compile(&prog, Select::Named("resnet20")).unwrap().remove(0);
    resc::weights::random(&g, seed)
}

/// `resc run` of resnet20 with the weights file at `path`.
fn resnet20_with(path: &Path) -> Output {
    resc(&[
        "run",
        "stdlib/resnet.res",
        "-m",
        "resnet20",
        "--weights",
        path.to_str().unwrap(),
        "--random-input",
        "1x3x32x32",
    ])
}

/// Writes weights with their shapes from the model, changed by `edit`.
fn write(path: &Path, weights: &HashMap<String, Vec<f32>>, extra: &[(&str, Vec<usize>, Vec<u8>, safetensors::Dtype)]) {
    let prog = Program::load_text("stdlib/resnet.res", None, resc::stdlib::source("resnet").unwrap());
    let g = driver::compile(&prog, Select::Named("resnet20")).unwrap().remove(0);
    let shapes: HashMap<String, Vec<usize>> =
        resc::passes::state(&g).into_iter().map(|e| (e.name, e.shape.iter().map(|&d| d as usize).collect())).collect();
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = weights
        .iter()
        .map(|(k, v)| (k.clone(), shapes[k].clone(), v.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    let mut views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes
        .iter()
        .map(|(k, s, b)| {
            (k.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap())
        })
        .collect();
    for (k, s, b, d) in extra {
        views.push((k.to_string(), safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap()));
    }
    safetensors::tensor::serialize_to_file(views, None, path).unwrap();
}

#[test]
fn a_weights_file_gives_the_same_output_as_the_same_random_weights() {
    let path = tmp("ok.safetensors");
    let counter = 7i64.to_le_bytes().to_vec();
    // torchvision checkpoints carry BN step counters: accepted and ignored.
    write(&path, &resnet20_weights(3), &[("bn1.num_batches_tracked", vec![], counter, safetensors::Dtype::I64)]);
    let a = resnet20_with(&path);
    let b =
        resc(&["run", "stdlib/resnet.res", "-m", "resnet20", "--random-weights", "3", "--random-input", "1x3x32x32"]);
    std::fs::remove_file(&path).ok();
    assert_eq!(a.status.code(), Some(0), "{}", String::from_utf8_lossy(&a.stderr));
    let strip = |o: &Output| String::from_utf8_lossy(&o.stdout).lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(strip(&a), strip(&b));
}

/// With BN statistics that are not the identity, a loader that put a tensor
/// in another's place would change the output: swapping two in the file does.
#[test]
fn every_bn_tensor_changes_the_output() {
    let run = |w: &HashMap<String, Vec<f32>>, name: &str| {
        let path = tmp(name);
        write(&path, w, &[]);
        let o = resnet20_with(&path);
        std::fs::remove_file(&path).ok();
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).lines().skip(1).collect::<Vec<_>>().join("\n")
    };
    let w = resnet20_weights(3);
    let base = run(&w, "bn-base.safetensors");
    for (a, b) in [("running_mean", "running_var"), ("weight", "bias"), ("weight", "running_var")] {
        let mut swapped = w.clone();
        let x = swapped[&format!("layer3.2.bn2.{a}")].clone();
        let y = std::mem::replace(swapped.get_mut(&format!("layer3.2.bn2.{b}")).unwrap(), x);
        swapped.insert(format!("layer3.2.bn2.{a}"), y);
        assert_ne!(run(&swapped, "bn-swap.safetensors"), base, "{a} and {b} swapped gave the same output");
    }
}

#[test]
fn bad_weights_are_clear_errors() {
    type Make = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Make)> = vec![
        (
            "resc::weights::missing",
            Box::new(|p| {
                let mut w = resnet20_weights(1);
                w.remove("layer2.0.conv1.weight");
                write(p, &w, &[]);
            }),
        ),
        (
            "resc::weights::unused",
            Box::new(|p| {
                write(p, &resnet20_weights(1), &[("head.fc.weight", vec![1], vec![0; 4], safetensors::Dtype::F32)]);
            }),
        ),
        (
            "resc::weights::shape",
            Box::new(|p| {
                let mut w = resnet20_weights(1);
                w.remove("fc.bias");
                write(p, &w, &[("fc.bias", vec![9], vec![0; 36], safetensors::Dtype::F32)]);
            }),
        ),
        (
            "resc::weights::dtype",
            Box::new(|p| {
                let mut w = resnet20_weights(1);
                w.remove("fc.bias");
                write(p, &w, &[("fc.bias", vec![10], vec![0; 80], safetensors::Dtype::I64)]);
            }),
        ),
        (
            "resc::weights::invalid",
            Box::new(|p| {
                write(p, &resnet20_weights(1), &[]);
                let bytes = std::fs::read(p).unwrap();
                std::fs::write(p, &bytes[..bytes.len() / 2]).unwrap();
            }),
        ),
    ];
    for (code, make) in cases {
        let path = tmp(&format!("{}.safetensors", code.replace("::", "_")));
        make(&path);
        let o = resnet20_with(&path);
        std::fs::remove_file(&path).ok();
        let err = String::from_utf8_lossy(&o.stderr);
        // Weights that do not fit the model are its errors; a file that is not safetensors could not be read.
        let exit = if code == "resc::weights::invalid" { 2 } else { 1 };
        assert_eq!(o.status.code(), Some(exit), "{code}: {err}");
        assert!(err.contains(code), "{code}: {err}");
        if code == "resc::weights::missing" {
            assert!(err.contains("the weights lack 1 tensor the model needs"), "{err}");
        }
    }
}

#[test]
fn npy_input_and_output() {
    let input = tmp("x.npy");
    let output = tmp("y.npy");
    let x: Vec<f32> = (0..2 * 3 * 16 * 16).map(|i| (i as f32 * 0.01).sin()).collect();
    resc::npy::write_f32(&input, &[2, 3, 16, 16], &x).unwrap();
    let o = resc(&[
        "run",
        "stdlib/resnet.res",
        "-m",
        "resnet20",
        "--random-weights",
        "1",
        "--input",
        input.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let bytes = std::fs::read(&output).unwrap();
    let y = npyz::NpyFile::new(&bytes[..]).unwrap();
    assert_eq!(y.shape(), &[2, 10]);
    let values = y.into_vec::<f32>().unwrap();
    assert!(values.iter().all(|v| v.is_finite()));
    std::fs::remove_file(&input).ok();
    std::fs::remove_file(&output).ok();
    // Wrong channels: a clear error before anything runs.
    let o =
        resc(&["run", "stdlib/resnet.res", "-m", "resnet20", "--random-weights", "1", "--random-input", "1x1x32x32"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("the model takes 3 input channels, the input has 1"), "{err}");
    assert!(err.contains("(in model `resnet20`, an instance of"), "the model is named: {err}");
    assert!(!err.contains("(in ,"), "{err}");
}

#[test]
fn an_input_too_small_names_the_layer_and_its_source() {
    let o = resc(&[
        "run",
        "stdlib/densenet.res",
        "-m",
        "densenet121",
        "--random-weights",
        "1",
        "--random-input",
        "1x3x16x16",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("resc::run::shape"), "{err}");
    assert!(err.contains("`features.transition3.pool` (avgpool 2x2/2) needs an input of at least 2x2"), "{err}");
    assert!(err.contains("512, 1, 1]"), "{err}");
    assert!(err.contains("an instance of `transition`"), "{err}");
    assert!(err.contains("stdlib/densenet.res:18:72"), "{err}");
    assert!(o.stdout.is_empty(), "nothing ran");
    // Wrong rank: a bad flag.
    let o =
        resc(&["run", "stdlib/resnet.res", "-m", "resnet20", "--random-weights", "1", "--random-input", "1x3x32x32x2"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn bench_reports_timings_per_layer_kind_and_memory() {
    let o = resc(&[
        "run",
        "stdlib/densenet.res",
        "-m",
        "densenet40_k12",
        "--random-weights",
        "1",
        "--random-input",
        "2x3x32x32",
        "--bench",
        "3",
        "--threads",
        "2",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("bench: 3 runs, median"), "{out}");
    assert!(out.contains("images/s at batch 2"), "{out}");
    assert!(out.contains("2 threads"), "{out}");
    for kind in ["conv 3x3", "elementwise affine+relu", "avg pool", "linear (+fused)"] {
        assert!(out.lines().any(|l| l.trim_start().starts_with(kind)), "{kind} missing:\n{out}");
    }
    assert!(out.contains("GFLOP/s"), "{out}");
    assert!(out.contains("peak resident memory"), "{out}");
    assert!(!out.contains("per layer, in order"), "the layer table only on request:\n{out}");
    // Nonsense thread counts are refused.
    let o = resc(&[
        "run",
        "stdlib/resnet.res",
        "-m",
        "resnet20",
        "--random-weights",
        "1",
        "--random-input",
        "1x3x32x32",
        "--threads",
        "0",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("resc::run::threads_flag"));
}

#[test]
fn bench_layers_lists_every_step_in_order_against_the_peak() {
    let args = ["run", "stdlib/resnet.res", "-m", "resnet20", "--random-weights", "1", "--random-input", "1x3x32x32"];
    let o = resc(&[&args[..], &["--bench", "2", "--layers", "--threads", "2"]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    let steps: usize =
        out.split(" steps,").next().and_then(|s| s.rsplit('(').next()).and_then(|s| s.parse().ok()).unwrap();
    let table: Vec<&str> = out.lines().skip_while(|l| !l.contains("per layer, in order")).skip(1).take(steps).collect();
    assert!(out.contains("GFLOP/s on 2 threads measured now"), "{out}");
    for (i, line) in table.iter().enumerate() {
        assert!(line.trim_start().starts_with(&format!("{i} ")), "step {i} in order:\n{out}");
    }
    assert!(table[0].contains("conv1") && table[0].contains("16x32x32") && table[0].contains('%'), "{out}");
    assert!(table[steps - 1].contains("fc") && table[steps - 1].contains("linear"), "{out}");
    let shares: f64 =
        table.iter().filter_map(|l| l.split(" ms ").nth(1)?.split('%').next()?.trim().parse::<f64>().ok()).sum();
    assert!((shares - 100.0).abs() < 1.0, "shares sum to {shares}:\n{out}");
    // Without --bench there is nothing to list.
    let o = resc(&[&args[..], &["--layers"]].concat());
    assert_eq!(o.status.code(), Some(2));
}

/// Every way of running gives the reference's output, at a batch of 3 so
/// that on two threads the batch splits (two samples side by side, the
/// third on both), which the first line says, or stays whole on request.
#[test]
fn fusion_on_off_batch_split_and_the_reference_interpreter_give_the_same_output() {
    let mut outputs = Vec::new();
    let variants: [&[&str]; 6] = [
        &["--threads", "2"],
        &["--no-fuse", "--threads", "2"],
        &["--reference"],
        &["--threads", "1"],
        &["--no-fold", "--threads", "2"],
        &["--threads", "2", "--no-batch-split"],
    ];
    for extra in variants {
        let out = tmp(&format!("same-{}.npy", outputs.len()));
        let mut args = vec![
            "run",
            "stdlib/resnest.res",
            "-m",
            "resnest14d",
            "--random-weights",
            "5",
            "--random-input",
            "3x3x32x32",
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = resc(&args);
        assert_eq!(o.status.code(), Some(0), "{extra:?}: {}", String::from_utf8_lossy(&o.stderr));
        let first = String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or_default().to_string();
        let split = extra.contains(&"2") && !extra.contains(&"--no-batch-split");
        assert_eq!(first.contains("batch split 1 + 1 side by side, then 1 on all"), split, "{extra:?}: {first}");
        let bytes = std::fs::read(&out).unwrap();
        std::fs::remove_file(&out).ok();
        outputs.push(npyz::NpyFile::new(&bytes[..]).unwrap().into_vec::<f32>().unwrap());
    }
    for (i, o) in outputs.iter().enumerate() {
        resc::testing::assert_close(&format!("variant {i} against --reference"), o, &outputs[2], 1e-4);
    }
}

#[test]
fn a_standard_library_model_runs_without_a_file_and_says_what_it_prints() {
    let dir = tmp("elsewhere");
    std::fs::create_dir_all(&dir).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_resc"))
        .args(["run", "--model", "resnet18", "--random-weights", "1", "--random-input", "2x3x32x32"])
        .current_dir(&dir)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("output: logits (`fc`, linear 1000), 1000 per sample"), "{out}");
    assert!(out.contains("  sample 1: "), "{out}");
}

#[test]
fn inputs_and_outputs_that_cannot_be_used_exit_2() {
    // A damaged photo is the decoder's error (tests/images.rs has the rest);
    // a damaged array named .npy is still `not_npy`.
    let png = tmp("picture.png");
    std::fs::write(&png, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
    let o = resc(&["run", "--model", "resnet20", "--random-weights", "1", "--input", png.to_str().unwrap()]);
    std::fs::remove_file(&png).ok();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("resc::image::decode"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let npy = tmp("array.npy");
    std::fs::write(&npy, b"\x93NUMPY\x09").unwrap();
    let o = resc(&["run", "--model", "resnet20", "--random-weights", "1", "--input", npy.to_str().unwrap()]);
    std::fs::remove_file(&npy).ok();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("resc::run::not_npy"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let o = resc(&["run", "--model", "resnet20", "--random-weights", "1", "--input", "/no/such/x.npy"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("resc::cli::unreadable"));

    let o = resc(&[
        "run",
        "--model",
        "resnet20",
        "--random-weights",
        "1",
        "--random-input",
        "1x3x32x32",
        "-o",
        "/no/such/dir/y.npy",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("resc::cli::unwritable"));

    let o = resc(&["run", "--model", "resnet20", "--random-input", "1x3x32x32"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("resc::run::no_weights"));
}
