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
    let all: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let v = &all[0];
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
fn json_diagnostics_carry_lines_columns_primary_origin_and_fixes() {
    let path = "tests/cases/errors/many_errors_one_file.res";
    let text = std::fs::read_to_string(path).unwrap();
    let o = resc(&["check", path, "--message-format", "json"]);
    let reports: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let unknown = reports.iter().find(|r| r["message"].as_str().unwrap().contains("batchnorm")).expect("batchnorm");
    let label = &unknown["labels"][0];
    assert_eq!(label["primary"], true);
    assert_eq!(label["file"], path);
    assert!(Path::new(label["path"].as_str().unwrap()).is_absolute(), "{label}");
    let offset = text.find("batchnorm").unwrap();
    let line = text[..offset].matches('\n').count() + 1;
    let column = offset - text[..offset].rfind('\n').unwrap();
    assert_eq!(label["span"]["offset"], offset);
    assert_eq!(label["start"], serde_json::json!({"line": line, "column": column}));
    assert_eq!(label["end"], serde_json::json!({"line": line, "column": column + 9}));
    // "did you mean" as a machine-applicable replacement of the span.
    let fix = &unknown["fixes"][0];
    assert_eq!(fix["replacement"], "bn");
    assert_eq!(fix["applicability"], "machine-applicable");
    assert_eq!(fix["span"]["offset"], offset);
    assert_eq!(unknown["help"], "did you mean `bn`?");
    // Secondary labels are marked as such.
    let shape = reports.iter().find(|r| r["code"] == "resc::shape::mismatch").unwrap();
    let labels = shape["labels"].as_array().unwrap();
    assert_eq!(labels.iter().filter(|l| l["primary"] == true).count(), 1, "{shape}");
    assert!(labels.len() > 1);

    // An error inside the standard library: an openable copy, and the user's line.
    let lib = resc(&["check", "tests/cases/errors/family_growth_rate_zero.res", "--message-format", "json"]);
    let r: serde_json::Value = serde_json::from_str(stdout(&lib).lines().next().unwrap()).unwrap();
    assert_eq!(r["filename"], "stdlib/densenet.res");
    let copy = r["labels"][0]["path"].as_str().unwrap();
    assert_eq!(std::fs::read_to_string(copy).unwrap(), resc::stdlib::source("densenet").unwrap());
    assert_eq!(r["origin"]["file"], "tests/cases/errors/family_growth_rate_zero.res");
    assert_eq!(r["origin"]["start"]["line"], 3);
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
    let all: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let v = &all[0];
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

/// Generated code says where it came from by file name, so regenerating
/// from another directory changes nothing.
#[test]
fn generated_code_does_not_depend_on_the_directory() {
    let manifest = env!("CARGO_MANIFEST_DIR");
    let examples = format!("{manifest}/examples");
    let build = |dir: &str, file: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_resc"))
            .args(["build", file, "--model", "resnet20", "--emit", "burn"])
            .current_dir(dir)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        stdout(&o)
    };
    let here = build(manifest, "examples/plain_vs_residual.res");
    assert_eq!(here, build(&examples, "plain_vs_residual.res"));
    assert_eq!(here, build(&examples, &format!("{examples}/plain_vs_residual.res")));
    assert!(here.contains("from plain_vs_residual.res:"), "{}", &here[..300]);
}

/// `resc build --emit burn` output passes `rustfmt --check` with rustfmt's
/// default settings (CI installs rustfmt), as in a user's crate.
#[test]
fn generated_burn_code_is_rustfmt_clean() {
    let dir = std::env::temp_dir().join(format!("resc-fmt-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for model in ["resnet18", "densenet121", "dpn68", "resnest50d", "resnet110_sd", "resnetv2_50"] {
        let file = dir.join(format!("{model}.rs"));
        let o = resc(&["build", "--model", model, "--emit", "burn", "-o", file.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let check = Command::new("rustfmt")
            .args(["--edition", "2024", "--check"])
            .arg(&file)
            .current_dir(&dir)
            .output()
            .expect("rustfmt is installed");
        assert!(check.status.success(), "{model}: {}", String::from_utf8_lossy(&check.stdout));
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Runs resc in a fresh directory outside the checkout.
fn resc_elsewhere(args: &[&str]) -> Output {
    let dir = std::env::temp_dir().join(format!("resc-elsewhere-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Command::new(env!("CARGO_BIN_EXE_resc")).args(args).current_dir(&dir).output().expect("run resc")
}

#[test]
fn standard_library_models_need_no_file_from_any_directory() {
    let o = resc_elsewhere(&["summary", "--model", "resnet50"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("25,557,032"), "{}", stdout(&o));
    let o = resc_elsewhere(&["--model", "resnet18"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = resc_elsewhere(&["build", "--model", "densenet121", "--emit", "burn"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("pub struct Densenet121Config"), "{}", stdout(&o));
    // A typo among the standard library's models.
    let o = resc_elsewhere(&["summary", "--model", "resnt50"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("resc::cli::unknown_model") && stderr(&o).contains("did you mean `resnet50`?"));
    // Neither a file nor a model.
    let o = resc_elsewhere(&["summary"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("resc::cli::no_input"), "{}", stderr(&o));

    // What `resc list` prints as the location works from there too.
    let list = resc_elsewhere(&["list"]);
    let line = stdout(&list).lines().find(|l| l.starts_with("resnet18 ")).expect("resnet18 listed").to_string();
    let location = line.split_whitespace().last().unwrap();
    let o = resc_elsewhere(&["summary", location, "--model", "resnet18"]);
    assert_eq!(o.status.code(), Some(0), "{location}: {}", stderr(&o));
    assert!(stdout(&o).contains("11,689,512"));
}

#[test]
fn build_needs_no_model_when_the_file_defines_one() {
    let o = resc(&["build", "examples/resnet50.res", "--emit", "ir"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("model resnet50"), "{}", stdout(&o));
    let o = resc(&["build", "examples/plain_vs_residual.res", "--emit", "ir"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("resc::cli::several_models") && err.contains("plain20, resnet20"), "{err}");
}

#[test]
fn summary_json_is_always_an_array_with_the_rows_down_to_depth() {
    let one = resc(&["summary", "examples/resnet50.res", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&one.stdout).expect("json");
    assert_eq!(v.as_array().map(Vec::len), Some(1), "one model: an array of one");
    let two = resc(&["summary", "examples/plain_vs_residual.res", "--json"]);
    let v2: serde_json::Value = serde_json::from_slice(&two.stdout).expect("json");
    assert_eq!(v2.as_array().map(Vec::len), Some(2));

    let layers = v[0]["layers"].as_array().expect("layers");
    let names: Vec<&str> = layers.iter().map(|l| l["name"].as_str().unwrap()).collect();
    assert_eq!(names[0], "conv1");
    let stage = layers.iter().find(|l| l["name"] == "layer1 (0-2)").expect("stage row");
    assert_eq!(stage["op"], "3 x bottleneck");
    assert_eq!(stage["output"], serde_json::json!([1, 256, 56, 56]));
    assert_eq!(stage["params"], 215_808);
    assert_eq!(stage["level"], 1);
    assert!(!names.iter().any(|n| n.starts_with("layer1.0")), "depth 1 opens no stage");

    let deep = resc(&["summary", "examples/resnet50.res", "--json", "--depth", "2"]);
    let d: serde_json::Value = serde_json::from_slice(&deep.stdout).expect("json");
    let rows = d[0]["layers"].as_array().unwrap();
    let block = rows.iter().find(|l| l["name"] == "layer1.0").expect("a block at depth 2");
    assert_eq!(block["level"], 2);
    assert_eq!(block["kind"], "block");
}

/// `label="..."` of every node statement in a DOT file.
fn node_labels(dot: &str) -> Vec<String> {
    dot.lines()
        .filter(|l| !l.contains("->") && l.contains(" [label=\""))
        .map(|l| l.split(" [label=\"").nth(1).unwrap().trim_end_matches("\"];").to_string())
        .collect()
}

#[test]
fn dot_collapses_blocks_at_a_depth_and_prints_no_label_twice() {
    let o = resc(&["build", "--model", "resnet50", "--emit", "dot", "--depth", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let dot = stdout(&o);
    let labels = node_labels(&dot);
    assert!(labels.len() <= 13, "{} nodes:\n{dot}", labels.len());
    let stage = labels.iter().find(|l| l.starts_with("layer1 (0-2)")).expect("layer1 as one node");
    assert!(stage.contains("3 x bottleneck") && stage.contains("[N, 256, 56, 56]") && stage.contains("215,808 params"));
    assert!(!dot.contains("subgraph"), "nothing is opened at depth 1");

    // Every level: no `relu\nrelu`.
    let full = stdout(&resc(&["build", "--model", "resnet50", "--emit", "dot"]));
    for l in node_labels(&full) {
        let lines: Vec<&str> = l.split("\\n").collect();
        assert!(lines.windows(2).all(|w| w[0] != w[1]), "label repeated: {l}");
    }
    assert!(full.contains("label=\"relu\"]"), "a relu is labelled once");

    // Rendered, resnet50 at depth 1 fits a page (A4 at 96 dpi: 794 x 1123), where graphviz is installed.
    let png = std::env::temp_dir().join(format!("resc-dot-{}.png", std::process::id()));
    let dot_file = png.with_extension("dot");
    std::fs::write(&dot_file, &dot).unwrap();
    if let Ok(r) = Command::new("dot").args(["-Tpng", "-o"]).arg(&png).arg(&dot_file).output()
        && r.status.success()
    {
        let bytes = std::fs::read(&png).unwrap();
        let (w, h) = (
            u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
            u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
        );
        assert!(w <= 794 && h <= 1123, "{w} x {h} px");
        std::fs::remove_file(&png).ok();
    }
    std::fs::remove_file(&dot_file).ok();
}

#[test]
fn ir_shows_padding_dilation_groups_and_bias() {
    let o = resc(&["build", "--model", "resnext50_32x4d", "--emit", "ir"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let ir = stdout(&o);
    let line = ir.lines().find(|l| l.contains("[layer1.0.conv2]")).expect("layer1.0.conv2");
    assert!(
        line.contains("conv{in: 128, out: 128, kernel: 3, stride: 1, pad: 1, dilation: 1, groups: 32, bias: false}"),
        "{line}"
    );
    let fc = ir.lines().find(|l| l.contains("[fc]")).unwrap();
    assert!(fc.contains("linear{in: 2048, out: 1000, bias: true}"), "{fc}");
    let pool = ir.lines().find(|l| l.contains("[maxpool]")).unwrap();
    assert!(pool.contains("maxpool{kernel: 3, stride: 2, pad: 1, ceil: false}"), "{pool}");
}

#[test]
fn exit_codes_say_whether_the_model_has_errors_or_the_command_could_not_run() {
    // 1: the model has errors.
    assert_eq!(resc(&["tests/cases/errors/unknown_op.res"]).status.code(), Some(1));
    // 2: unreadable input.
    let o = resc(&["build", "no/such/file.res", "--emit", "ir"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("resc::cli::unreadable"), "{}", stderr(&o));
    // 2: unwritable output.
    let o = resc(&["build", "examples/resnet50.res", "--emit", "dot", "-o", "/no/such/dir/out.dot"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("resc::cli::unwritable"), "{}", stderr(&o));
    // 2: bad flags.
    assert_eq!(resc(&["summary", "examples/resnet50.res", "--depth", "x"]).status.code(), Some(2));
}

#[test]
fn a_mistyped_command_says_did_you_mean() {
    let o = resc(&["sumary", "examples/resnet50.res"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("did you mean `summary`"), "{err}");
    assert!(!err.contains("cannot be used with"), "{err}");
    let o = resc(&["biuld", "--model", "resnet18", "--emit", "ir"]);
    assert!(stderr(&o).contains("did you mean `build`"), "{}", stderr(&o));
}

/// Every option and argument line in `--help` has a description after it.
fn undescribed_flags(help: &str) -> Vec<String> {
    let lines: Vec<&str> = help.lines().collect();
    let mut missing = Vec::new();
    let mut in_list = false;
    for (i, l) in lines.iter().enumerate() {
        if l.ends_with(':') && !l.starts_with(' ') {
            in_list = matches!(*l, "Options:" | "Arguments:");
            continue;
        }
        let t = l.trim_start();
        let indent = l.len() - t.len();
        // Clap indents `-m, --model` by 2 and `--weights` (no short form) by 6.
        if !in_list || !(indent == 2 || indent == 6) || !t.starts_with(['-', '<', '[']) {
            continue;
        }
        let described = t.contains("  ")
            || lines.get(i + 1).is_some_and(|n| n.len() - n.trim_start().len() > 6 && !n.trim().is_empty());
        if !described {
            missing.push(t.to_string());
        }
    }
    missing
}

#[test]
fn every_flag_of_every_command_is_described() {
    let mut commands = vec![vec![]];
    for c in ["summary", "check", "list", "lsp", "run", "fmt", "build", "completions", "man"] {
        commands.push(vec![c]);
    }
    for c in commands {
        let mut args = c.clone();
        args.push("--help");
        let o = resc(&args);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        let help = stdout(&o);
        assert!(undescribed_flags(&help).is_empty(), "{args:?}: {:?}\n{help}", undescribed_flags(&help));
    }
    let build = stdout(&resc(&["build", "--help"]));
    assert!(build.contains("burn"), "build says it emits burn too:\n{build}");
    let run = stdout(&resc(&["run", "--help"]));
    assert!(run.lines().any(|l| l.contains("-m, --model <MODEL>") && l.contains("The model to run")), "{run}");
}

#[test]
fn shell_completions_and_a_man_page() {
    for (shell, marker) in [("bash", "_resc()"), ("zsh", "#compdef resc"), ("fish", "complete -c resc")] {
        let o = resc(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let text = stdout(&o);
        assert!(text.contains(marker), "{shell}: {text}");
        assert!(text.contains("summary") && text.contains("random-weights"), "{shell} completes commands and flags");
    }
    let man = resc(&["man"]);
    assert_eq!(man.status.code(), Some(0));
    let page = stdout(&man);
    assert!(page.contains(".TH resc 1"), "{page}");
    assert!(page.contains("completions"), "{page}");
    let dir = std::env::temp_dir().join(format!("resc-man-{}", std::process::id()));
    let o = resc(&["man", "--dir", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(dir.join("resc-run.1").exists() && dir.join("resc.1").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn depth_3_names_the_projection_by_its_path() {
    let o = resc(&["summary", "--model", "resnet50", "--depth", "3"]);
    let out = stdout(&o);
    let row = out.lines().find(|l| l.contains("projection")).expect("a projection row");
    assert!(row.starts_with("layer1.0.downsample "), "{row}");
    assert!(!out.lines().any(|l| l.starts_with("layer1.0 ") && l.contains("projection")), "{out}");
}

#[test]
fn examples_are_named_for_what_they_are() {
    assert!(!Path::new("examples/resnext_cifar.res").exists());
    let o = resc(&["summary", "examples/resnext50_tiny_imagenet.res", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v[0]["input"], serde_json::json!([1, 3, 64, 64]), "Tiny ImageNet's 64x64");
    assert_eq!(v[0]["output"], serde_json::json!([1, 200]), "and its 200 classes");
    // An example named for CIFAR is sized for CIFAR.
    for e in std::fs::read_dir("examples").unwrap() {
        let path = e.unwrap().path();
        if path.to_string_lossy().contains("cifar") && path.extension().is_some_and(|x| x == "res") {
            let o = resc(&["summary", path.to_str().unwrap(), "--json"]);
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            for m in v.as_array().unwrap() {
                assert_eq!(m["input"], serde_json::json!([1, 3, 32, 32]), "{}", path.display());
            }
        }
    }
}

#[test]
fn a_residual_mismatch_names_the_condition_that_let_the_identity_through() {
    let dir = std::env::temp_dir().join(format!("resc-cond-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cond.res");
    std::fs::write(
        &file,
        "block bad(planes: int, stride: int = 1) {
    residual {
        conv1: conv(planes, 3, stride: stride, pad: 1);  bn1: bn;  relu
        conv2: conv(planes, 3, pad: 1);  bn2: bn
    } shortcut if stride != 1 {
        downsample: [conv(planes, 1, stride: stride), bn]
    }
}
network net() {
    conv1: conv(16, 3, pad: 1);  bn1: bn;  relu
    layer1: bad(32)
}
model m = net() on [N, 3, 32, 32]
",
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_resc"))
        .args([file.to_str().unwrap(), "--color", "never"])
        .env("COLUMNS", "400")
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("the shortcut's condition `stride != 1` is false here"), "{err}");
    assert!(err.contains("false here: the identity was used"), "{err}");
    assert!(!err.contains("needs a projection"), "it has one: {err}");
}
