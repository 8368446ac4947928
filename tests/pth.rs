//! PyTorch checkpoints (`torch.save`'s zip format) as `resc run --weights`:
//! read by a restricted unpickler that runs nothing. The fixtures were made
//! with torch by tests/fixtures/gen_pth.py from every_op.res's synthetic
//! weights, so they must give exactly what `--random-weights 0` gives.

use std::path::PathBuf;
use std::process::{Command, Output};

fn resc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_resc")).args(args).output().expect("run resc")
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("resc-pth-{}-{name}", std::process::id()))
}

/// The output of every_op on the standard random input, with these weights.
fn run(weights: &[&str], name: &str) -> (Output, Option<Vec<f32>>) {
    let out = tmp(&format!("{name}.npy"));
    let mut args =
        vec!["run", "tests/fixtures/every_op.res", "--random-input", "2x3x24x24", "-o", out.to_str().unwrap()];
    args.extend_from_slice(weights);
    let o = resc(&args);
    let y = std::fs::read(&out).ok().map(|b| npyz::NpyFile::new(&b[..]).unwrap().into_vec::<f32>().unwrap());
    std::fs::remove_file(&out).ok();
    (o, y)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_checkpoint_gives_what_the_same_weights_give() {
    let (o, want) = run(&["--random-weights", "0"], "random");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Plain (with a transposed, non-contiguous tensor and BN step counters),
    // and wrapped in {"state_dict": ...} with DataParallel's `module.` prefix.
    for file in ["every_op.pth", "every_op_wrapped.pth"] {
        let path = format!("tests/fixtures/pth/{file}");
        let (o, got) = run(&["--weights", &path], file);
        assert_eq!(o.status.code(), Some(0), "{file}: {}", stderr(&o));
        assert_eq!(got, want, "{file}");
    }
    let (o, _) = run(&["--weights", "tests/fixtures/pth/every_op_wrapped.pth"], "notes");
    let err = stderr(&o);
    assert!(err.contains("read the state dict under `state_dict`"), "{err}");
    assert!(err.contains("removed DataParallel's `module.` prefix"), "{err}");
    // Half precision is converted: the output moves by f16 rounding only.
    let (o, half) = run(&["--weights", "tests/fixtures/pth/every_op_half.pth"], "half");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("float16 tensors to float32"), "{}", stderr(&o));
    let (half, want) = (half.unwrap(), want.unwrap());
    assert_ne!(half, want, "f16 weights cannot give the f32 output bit for bit");
    resc::testing::assert_close("f16 checkpoint", &half, &want, 1e-2);
}

#[test]
fn a_malicious_checkpoint_is_refused_and_nothing_runs() {
    let marker = std::path::Path::new("/tmp/resc-pth-was-run");
    std::fs::remove_file(marker).ok();
    let (o, y) = run(&["--weights", "tests/fixtures/pth/evil.pth"], "evil");
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("resc::weights::unsafe_global") && err.contains("`posix.system`"), "{err}");
    assert!(y.is_none() && !marker.exists());
}

#[test]
fn broken_and_mismatched_checkpoints_are_coded_errors() {
    let good = std::fs::read("tests/fixtures/pth/every_op.pth").unwrap();
    let cut = tmp("truncated.pth");
    for len in [good.len() / 2, good.len() - 30, 40] {
        std::fs::write(&cut, &good[..len]).unwrap();
        let (o, _) = run(&["--weights", cut.to_str().unwrap()], "truncated");
        assert_eq!(o.status.code(), Some(2), "cut at {len}: {}", stderr(&o));
        assert!(stderr(&o).contains("resc::weights::invalid"), "cut at {len}: {}", stderr(&o));
    }
    // The format before PyTorch 1.6: a bare pickle.
    std::fs::write(&cut, b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.").unwrap();
    let (o, _) = run(&["--weights", cut.to_str().unwrap()], "legacy");
    assert!(stderr(&o).contains("resc::weights::legacy_pth"), "{}", stderr(&o));
    std::fs::remove_file(&cut).ok();
    // Another model's checkpoint: the first tensor that does not fit, named.
    let o = resc(&[
        "run",
        "--model",
        "resnet20",
        "--weights",
        "tests/fixtures/pth/every_op.pth",
        "--random-input",
        "1x3x32x32",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("resc::weights::shape") && err.contains("`fc.weight` has shape [10, 16]"), "{err}");
}

/// Thousands of corruptions of a real state dict's pickle: each one read to
/// a value or an error, never a panic or a hang.
#[test]
fn corrupted_pickles_are_errors_not_crashes() {
    use std::io::Read;
    let file = std::fs::File::open("tests/fixtures/pth/every_op.pth").unwrap();
    let mut zip = zip::ZipArchive::new(file).unwrap();
    let mut pkl = Vec::new();
    zip.by_name("every_op/data.pkl").unwrap().read_to_end(&mut pkl).unwrap();
    assert!(resc::pth::pickle::load(&pkl).is_ok());
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let start = std::time::Instant::now();
    for _ in 0..3000 {
        let mut bytes = pkl.clone();
        for _ in 0..1 + next(4) {
            let i = next(bytes.len());
            bytes[i] = next(256) as u8;
        }
        if next(4) == 0 {
            bytes.truncate(next(bytes.len()));
        }
        let _ = resc::pth::pickle::load(&bytes);
    }
    assert!(start.elapsed() < std::time::Duration::from_secs(20), "{:?}", start.elapsed());
}
