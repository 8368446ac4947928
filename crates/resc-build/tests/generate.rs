//! The build-script crate as a build script uses it, in a scratch directory.

use std::path::{Path, PathBuf};

use resc_build::{Config, Error};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("resc-build-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const BLOCKS: &str = "block tiny(c: int) {\n    conv1: conv(c, 3, pad: 1);  bn1: bn;  relu\n}\n";
const NET: &str = "use \"blocks.res\"\n\nnetwork net(classes: int = 10) {\n    stem: tiny(8)\n    global_avg;  flatten\n    fc: linear(classes)\n}\n\nmodel my_net = net() on [N, 3, 16, 16]\n";

#[test]
fn writes_each_model_and_names_every_file_read() {
    let dir = scratch("ok");
    std::fs::write(dir.join("blocks.res"), BLOCKS).unwrap();
    std::fs::write(dir.join("net.res"), NET).unwrap();
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let config = Config::new().base_dir(&dir).out_dir(&out).model("net.res", "my_net").stdlib_model("resnet18");
    let done = config.generate().unwrap_or_else(|(e, _)| panic!("{e}"));
    let written = ["my_net.rs", "resnet18.rs", "resc_support.rs", "resc_models.rs"].map(|f| out.join(f));
    assert_eq!(done.files, written);
    // The index declares each model and the support module they reach as `super::resc_support`.
    let index = std::fs::read_to_string(out.join("resc_models.rs")).unwrap();
    for m in ["resc_support", "my_net", "resnet18"] {
        assert!(index.contains(&format!("pub mod {m} {{\n    include!(\"{m}.rs\");")), "{index}");
    }
    assert!(std::fs::read_to_string(out.join("resc_support.rs")).unwrap().contains("pub enum LoadError"));
    let sources: Vec<&Path> = done.sources.iter().map(PathBuf::as_path).collect();
    assert_eq!(sources, vec![dir.join("net.res").as_path(), dir.join("blocks.res").as_path()]);
    let code = std::fs::read_to_string(out.join("my_net.rs")).unwrap();
    assert!(code.contains("pub struct MyNetConfig") && code.contains("from net.res:"), "{code}");
    assert!(std::fs::read_to_string(out.join("resnet18.rs")).unwrap().contains("pub struct Resnet18Config"));
    // Unchanged output is left alone, so cargo rebuilds nothing.
    let before = std::fs::metadata(out.join("my_net.rs")).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    config.generate().unwrap_or_else(|(e, _)| panic!("{e}"));
    assert_eq!(std::fs::metadata(out.join("my_net.rs")).unwrap().modified().unwrap(), before);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn errors_carry_the_report_and_the_files_to_watch() {
    let dir = scratch("err");
    std::fs::write(dir.join("blocks.res"), BLOCKS.replace("pad: 1)", "pad: 1, grups: 2)")).unwrap();
    std::fs::write(dir.join("net.res"), NET).unwrap();
    let config = Config::new().base_dir(&dir).out_dir(&dir).model("net.res", "my_net");
    let (err, watched) = config.generate().expect_err("a misspelled argument");
    let Error::Diagnostics { count, report, .. } = &err else { panic!("{err}") };
    assert!(*count >= 1);
    assert!(report.contains("grups") && report.contains("blocks.res"), "{report}");
    assert!(report.contains("resc::"), "the error's code: {report}");
    // A fix to either file must rerun the build script.
    assert_eq!(watched, vec![dir.join("net.res"), dir.join("blocks.res")]);
    assert!(err.to_string().contains("`my_net`"));

    let (err, watched) = Config::new().base_dir(&dir).out_dir(&dir).model("nope.res", "x").generate().unwrap_err();
    assert!(matches!(err, Error::Read { .. }), "{err}");
    assert_eq!(watched, vec![dir.join("nope.res")]);
    let (err, _) = Config::new().out_dir(&dir).stdlib_model("resnet51").generate().unwrap_err();
    let Error::Diagnostics { report, .. } = &err else { panic!("{err}") };
    assert!(report.contains("no standard-library model `resnet51`"), "{report}");
    std::fs::remove_dir_all(&dir).ok();
}
