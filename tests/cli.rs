//! The `resc` binary as a user runs it: exit codes, streams, formats.

use std::path::Path;
use std::process::{Command, Output};

fn resc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_resc")).args(args).output().expect("run resc")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn summary_of_an_example() {
    let o = resc(&["examples/resnet50.res"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("layer3 (0-5)"), "{out}");
    assert!(out.contains("6 x bottleneck"), "{out}");
    assert!(out.contains("25,557,032"), "{out}");
    assert!(out.contains("4,089,184,256"), "{out}");
}

#[test]
fn json_summary_has_the_promised_fields() {
    let o = resc(&["summary", "stdlib/resnet.res", "--model", "resnet18", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["model"], "resnet18");
    assert_eq!(v["input"], serde_json::json!([1, 3, 224, 224]));
    assert_eq!(v["output"], serde_json::json!([1, 1000]));
    assert_eq!(v["params"], 11_689_512);
    assert_eq!(v["macs"], 1_814_073_344u64);
    assert_eq!(v["buffers"], 9_600);
    let state = v["state"].as_array().expect("state");
    assert_eq!(state.len(), 102);
    assert_eq!(state[0]["name"], "conv1.weight");
    assert_eq!(state[0]["shape"], serde_json::json!([64, 3, 7, 7]));
    assert_eq!(state[0]["kind"], "param");
    assert!(state.iter().any(|e| e["name"] == "layer2.0.downsample.1.running_var" && e["kind"] == "buffer"));
}

#[test]
fn errors_exit_1_with_codes_on_stderr() {
    let o = resc(&["tests/cases/errors/unknown_op.res"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stdout(&o).is_empty());
    let err = stderr(&o);
    assert!(err.contains("resc::sema::unknown_name"), "{err}");
    assert!(err.contains("did you mean `conv`?"), "{err}");
    assert!(err.contains("2 errors found"), "{err}");
}

#[test]
fn check_reports_json_for_editors() {
    let o = resc(&["check", "tests/cases/errors/many_errors_one_file.res", "--message-format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    let reports: Vec<serde_json::Value> =
        out.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect();
    assert!(reports.len() >= 3, "{out}");
    for r in &reports {
        assert!(r["code"].as_str().is_some_and(|c| c.starts_with("resc::")), "{r}");
        let labels = r["labels"].as_array().expect("labels");
        assert!(!labels.is_empty(), "{r}");
        assert!(labels[0]["span"]["offset"].is_number(), "{r}");
    }
    let ok = resc(&["check", "examples/resnet50.res"]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
}

#[test]
fn list_defaults_to_the_standard_library() {
    let o = resc(&["list"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    for m in ["resnet18", "resnet152", "resnet20", "resnet1202"] {
        assert!(out.lines().any(|l| l.starts_with(&format!("{m} "))), "{m} missing from:\n{out}");
    }
    let dir = resc(&["list", "examples"]);
    assert!(stdout(&dir).contains("plain20"), "{}", stdout(&dir));
}

#[test]
fn build_emits_ir_and_dot() {
    let ir = resc(&["build", "stdlib/resnet.res", "--model", "resnet18", "--emit", "ir"]);
    assert_eq!(ir.status.code(), Some(0), "{}", stderr(&ir));
    let text = stdout(&ir);
    assert!(text.contains("[layer1.0.conv1] : [N, 64, 56, 56]"), "{text}");
    assert!(text.contains("stdlib/resnet.res:"), "{text}");

    let out = std::env::temp_dir().join(format!("resc-dot-{}.dot", std::process::id()));
    let dot =
        resc(&["build", "stdlib/resnet.res", "--model", "resnet18", "--emit", "dot", "-o", out.to_str().unwrap()]);
    assert_eq!(dot.status.code(), Some(0), "{}", stderr(&dot));
    let text = std::fs::read_to_string(&out).expect("dot written");
    std::fs::remove_file(&out).ok();
    assert!(text.starts_with("digraph \"resnet18\""));
    assert!(text.contains("label=\"layer1.0 (basic)\""), "stages and blocks are clusters");
    assert!(text.contains("[label=\"[N, 64, 56, 56]\"]"), "shapes on edges");
}

#[test]
fn unknown_model_and_missing_file() {
    let o = resc(&["summary", "stdlib/resnet.res", "--model", "resnet51"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("did you mean `resnet50`?"), "{}", stderr(&o));
    let o = resc(&["no/such/file.res"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read"), "{}", stderr(&o));
}

#[test]
fn works_from_any_directory() {
    let dir = std::env::temp_dir().join(format!("resc-anywhere-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy("examples/resnet50.res", dir.join("m.res")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_resc")).arg("m.res").current_dir(&dir).output().unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(Path::new(env!("CARGO_BIN_EXE_resc")).is_absolute());
}

#[test]
fn input_size_can_be_overridden() {
    let o = resc(&["summary", "stdlib/resnet.res", "--model", "resnet18", "--input", "3x32x32", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["input"], serde_json::json!([1, 3, 32, 32]));
    assert_eq!(v["params"], 11_689_512, "parameters do not depend on the input size");
    // 1,814,073,344 MACs at 224x224: the convolutions scale with the area, the fc does not.
    let macs = v["macs"].as_u64().unwrap();
    assert!(macs < 1_814_073_344 / 40, "{macs}");

    let bad = resc(&["stdlib/resnet.res", "--model", "resnet18", "--input", "32x32"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("resc::sema::input_override"), "{}", stderr(&bad));
}

#[test]
fn errors_come_with_a_summary_up_to_the_failure() {
    let o = resc(&["tests/cases/errors/kernel_too_large.res"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("(partial: `m` has errors; these layers were built)"), "{out}");
    // conv1 and conv2 fit; conv3 is the one that fails.
    assert!(out.contains("conv1") && out.contains("conv2") && !out.contains("conv3"), "{out}");
    assert!(stderr(&o).contains("resc::shape::kernel_too_large"));
}

#[test]
fn build_emits_burn_source() {
    let out = std::env::temp_dir().join(format!("resc-burn-{}.rs", std::process::id()));
    let o = resc(&["build", "stdlib/resnet.res", "--model", "resnet50", "--emit", "burn", "-o", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let code = std::fs::read_to_string(&out).expect("written");
    std::fs::remove_file(&out).ok();
    assert!(code.contains("pub struct Resnet50Config"), "a Config for the model");
    assert!(code.contains("pub fn forward(&self, x: Tensor<4>) -> Tensor<2>"), "the model's forward");
    assert!(code.contains("pub struct Bottleneck"), "one struct per block template");
    assert!(code.contains("pub layer3: Vec<Bottleneck>"), "a Vec per stage");
    assert!(code.contains("pub downsample: Option<(Conv2d, BatchNorm)>"), "torchvision's downsample.0/.1 keys");
    assert!(code.contains("Conv2dConfig::new([3, 64], [7, 7])"), "real burn builders");
}
