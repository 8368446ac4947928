//! Photos in, labels out: `resc::preprocess` against torchvision's transform
//! (fixtures made once by tests/fixtures/gen_images.py), and `resc run
//! --input PHOTO` with `--top`, `--labels`, `--save-input` and every way a
//! file can be wrong.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use resc::preprocess::{self, IMAGENET_MEAN, IMAGENET_STD, Options};

const SAMPLE: &str = "examples/sample.jpg";
const IMAGES: &str = "tests/fixtures/images";

fn resc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_resc")).args(args).output().expect("run resc")
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("resc-images-{}-{name}", std::process::id()))
}

fn read_npy(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    resc::npy::read_f32(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What torchvision made of `image` for a crop of `h` x `w` after resizing
/// the shorter side to `resize`, beside what resc makes of it: the largest
/// and the mean absolute difference, and how many values differ at all.
fn against_torchvision(image: &str, fixture: &str, h: usize, w: usize, resize: usize) -> (f32, f32, usize) {
    let (shape, want) = read_npy(&Path::new(IMAGES).join(fixture));
    assert_eq!(shape, [3, h, w], "{fixture}");
    let opts = Options { height: h, width: w, resize: Some(resize), mean: IMAGENET_MEAN, std: IMAGENET_STD };
    let bytes = std::fs::read(image).unwrap();
    let got = preprocess::prepare(Path::new(image), &bytes, &opts).unwrap_or_else(|e| panic!("{image}: {e}")).chw;
    assert_eq!(got.len(), want.len());
    let diffs: Vec<f32> = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).collect();
    let max = diffs.iter().copied().fold(0.0, f32::max);
    let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
    let differing = diffs.iter().filter(|&&d| d > 0.0).count();
    eprintln!("{image} -> {fixture}: max {max:.4}, mean {mean:.5}, {differing} of {} values differ", diffs.len());
    (max, mean, differing)
}

/// One step of 8-bit input after normalisation, at the smallest std (0.224).
const LEVEL: f32 = 1.0 / 255.0 / 0.224;

/// PNG files decode to the same bytes in Pillow and here, and the resize is
/// Pillow's own integer arithmetic: equal floats, every one (RGBA, 8- and
/// 16-bit gray, palette; down- and upsampling; a crop padded with zeros).
#[test]
fn png_files_give_exactly_what_torchvision_gives() {
    for (image, fixture, h, w, resize) in [
        ("rgba.png", "rgba.70x70.r80.npy", 70, 70, 80),
        ("rgba.png", "rgba.48x48.r54.npy", 48, 48, 54),
        ("gray.png", "gray.56x40.r45.npy", 56, 40, 45),
        ("gray16.png", "gray16.32x32.r36.npy", 32, 32, 36),
        ("palette.png", "palette.32x32.r36.npy", 32, 32, 36),
        ("palette.png", "palette.32x32.r30.npy", 32, 32, 30),
    ] {
        let path = format!("{IMAGES}/{image}");
        let (max, _, differing) = against_torchvision(&path, fixture, h, w, resize);
        assert_eq!((max, differing), (0.0, 0), "{fixture}");
    }
}

/// JPEG files differ by the decoder: zune-jpeg (the `image` crate's) and
/// libjpeg-turbo (Pillow's) upsample 4:2:0 chroma with different rounding,
/// so 13% of the decoded values differ, by up to 4 levels. Measured on the
/// bundled 320x240 sample: upsampled to 256 (the 224 crop) the largest
/// difference stays 4 levels (0.0697) and the mean is 0.0032; downsampled
/// (the small crops) at most 1 level (0.0175), mean 0.0028. The bounds are
/// those, rounded up.
#[test]
fn the_bundled_jpeg_is_within_a_few_levels_of_torchvision() {
    for (fixture, h, w, resize, levels, mean_bound) in [
        ("sample.224x224.r256.npy", 224, 224, 256, 4.0, 0.0035),
        ("sample.40x56.r45.npy", 40, 56, 45, 1.0, 0.003),
        ("sample.32x32.r36.npy", 32, 32, 36, 1.0, 0.003),
    ] {
        let (max, mean, _) = against_torchvision(SAMPLE, fixture, h, w, resize);
        assert!(max <= levels * LEVEL + 1e-5, "{fixture}: max {max}, above {levels} levels");
        assert!(mean <= mean_bound, "{fixture}: mean {mean}, above {mean_bound}");
    }
}

fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The exit code and the error printed, which must name `code`.
fn fails(o: &Output, exit: i32, code: &str) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(exit), "{err}");
    assert!(err.contains(code), "{code}: {err}");
    err
}

/// `--top` lines of one sample: (rank, probability, name, class).
fn ranked(out: &str, header: &str) -> Vec<(usize, f32, String, usize)> {
    let lines: Vec<&str> = out.lines().collect();
    let at = lines.iter().position(|l| *l == header).unwrap_or_else(|| panic!("no `{header}` in {out}"));
    lines[at + 1..]
        .iter()
        .map_while(|l| {
            let (rank, rest) = l.trim_start().split_once(". ")?;
            let (prob, rest) = rest.split_once("  ")?;
            let (name, class) = rest.rsplit_once(" (")?;
            Some((rank.parse().ok()?, prob.parse().ok()?, name.to_string(), class.strip_suffix(')')?.parse().ok()?))
        })
        .collect()
}

/// The bundled photo through resnet50: five named classes, best first, whose
/// probabilities are the softmax of the logits `-o` writes; the input the
/// model saw is torchvision's tensor (within the JPEG bound above).
#[test]
fn top_5_of_the_bundled_photo_with_imagenet_names() {
    let (x, y) = (tmp("top5-x.npy"), tmp("top5-y.npy"));
    let o = resc(&[
        "run",
        "--model",
        "resnet50",
        "--random-weights",
        "1",
        "--input",
        SAMPLE,
        "--top",
        "5",
        "--save-input",
        x.to_str().unwrap(),
        "-o",
        y.to_str().unwrap(),
    ]);
    let out = ok(&o);
    assert!(out.contains("top 5 by softmax probability, with ImageNet's class names"), "{out}");
    assert!(out.contains(&format!("  wrote input {}", x.display())), "{out}");
    let top = ranked(&out, SAMPLE);
    assert_eq!(top.len(), 5, "{out}");
    let names = resc::labels::imagenet();
    for (i, (rank, _, name, class)) in top.iter().enumerate() {
        assert_eq!(*rank, i + 1);
        assert_eq!(name, &names[*class], "{out}");
    }
    assert!(top.windows(2).all(|w| w[0].1 >= w[1].1), "sorted: {out}");
    assert!(top.iter().map(|t| t.1).sum::<f32>() <= 1.0 + 1e-4, "{out}");

    let (shape, logits) = read_npy(&y);
    assert_eq!(shape, [1, 1000]);
    let p = resc::labels::softmax(&logits);
    let argmax = (0..1000).max_by(|&a, &b| logits[a].total_cmp(&logits[b]).then(b.cmp(&a))).unwrap();
    assert_eq!(top[0].3, argmax, "the top class is the largest logit");
    for (_, prob, _, class) in &top {
        assert!((prob - p[*class]).abs() <= 5e-5, "class {class}: printed {prob}, softmax {}", p[*class]);
    }

    let (shape, seen) = read_npy(&x);
    assert_eq!(shape, [1, 3, 224, 224]);
    let (_, want) = read_npy(&Path::new(IMAGES).join("sample.224x224.r256.npy"));
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let agreement = resc::testing::assert_close("--save-input", &seen, &want, (4.0 * LEVEL + 1e-5) / scale);
    eprintln!("--save-input against torchvision: {agreement}");
    std::fs::remove_file(&x).ok();
    std::fs::remove_file(&y).ok();
}

/// Several photos make a batch, each preprocessed as it would be alone, and
/// each gets its own ranking under its own name.
#[test]
fn several_photos_make_a_batch() {
    let saved = |inputs: &[&str], name: &str| -> (Vec<usize>, Vec<f32>, String) {
        let x = tmp(name);
        let mut args = vec!["run", "--model", "resnet18", "--random-weights", "2", "--top", "3", "--input"];
        args.extend(inputs);
        args.extend(["--save-input", x.to_str().unwrap()]);
        let out = ok(&resc(&args));
        let (shape, data) = read_npy(&x);
        std::fs::remove_file(&x).ok();
        (shape, data, out)
    };
    let rgba = "tests/fixtures/images/rgba.png";
    let (shape, both, out) = saved(&[SAMPLE, rgba], "batch.npy");
    assert_eq!(shape, [2, 3, 224, 224]);
    assert!(out.contains("resnet18: [2, 3, 224, 224] -> [2, 1000]"), "{out}");
    assert_eq!(ranked(&out, SAMPLE).len(), 3, "{out}");
    assert_eq!(ranked(&out, rgba).len(), 3, "{out}");
    let (_, first, _) = saved(&[SAMPLE], "first.npy");
    let (_, second, _) = saved(&[rgba], "second.npy");
    assert!(both == [first, second].concat(), "the batch is the photos one after the other");
}

/// `--save-input` writes what ran for arrays too: a random input saved and
/// given back as `--input` gives the same output.
#[test]
fn save_input_works_for_random_and_npy_inputs() {
    let (x, x2) = (tmp("random.npy"), tmp("again.npy"));
    let base = ["run", "--model", "resnet20", "--random-weights", "1"];
    let a = ok(&resc(&[&base[..], &["--random-input", "2x3x32x32", "--save-input", x.to_str().unwrap()]].concat()));
    let b = ok(&resc(&[&base[..], &["--input", x.to_str().unwrap(), "--save-input", x2.to_str().unwrap()]].concat()));
    assert_eq!(read_npy(&x), read_npy(&x2));
    assert_eq!(read_npy(&x).0, [2, 3, 32, 32]);
    let samples = |out: &str| out.lines().filter(|l| l.starts_with("  sample")).map(String::from).collect::<Vec<_>>();
    assert_eq!(samples(&a), samples(&b));
    assert_eq!(samples(&a).len(), 2, "{a}");
    std::fs::remove_file(&x).ok();
    std::fs::remove_file(&x2).ok();
}

/// A model of another size gets the same rule (resnet20: 32 -> resize 36):
/// the input is what the library makes for that size.
#[test]
fn a_small_model_gets_its_own_resize_and_crop() {
    let x = tmp("small.npy");
    ok(&resc(&[
        "run",
        "--model",
        "resnet20",
        "--random-weights",
        "1",
        "--input",
        SAMPLE,
        "--save-input",
        x.to_str().unwrap(),
    ]));
    let (shape, seen) = read_npy(&x);
    std::fs::remove_file(&x).ok();
    assert_eq!(shape, [1, 3, 32, 32]);
    let bytes = std::fs::read(SAMPLE).unwrap();
    let want = preprocess::prepare(Path::new(SAMPLE), &bytes, &Options::imagenet(32, 32)).unwrap().chw;
    assert!(seen == want);
    assert_eq!(Options::imagenet(32, 32).resize, Some(36));
}

/// `--preprocess none` takes a photo of the model's size as it is, scaled to
/// [0, 1] (and normalised only with --mean/--std); another size is an error.
#[test]
fn preprocess_none_and_explicit_mean_std_resize() {
    let x = tmp("none.npy");
    let palette = "tests/fixtures/images/palette.png"; // 32x32
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--model", "resnet20", "--random-weights", "1", "--input", palette];
        args.extend(extra);
        args.extend(["--save-input", x.to_str().unwrap()]);
        resc(&args)
    };
    ok(&run(&["--preprocess", "none"]));
    let (_, plain) = read_npy(&x);
    assert!(plain.iter().all(|v| (0.0..=1.0).contains(v) && ((v * 255.0).round() - v * 255.0).abs() < 1e-4));
    ok(&run(&["--preprocess", "none", "--mean", "0.5,0.5,0.5", "--std", "0.25,0.5,1"]));
    let (_, normalised) = read_npy(&x);
    let plane = 32 * 32;
    for (i, (p, n)) in plain.iter().zip(&normalised).enumerate() {
        let std = [0.25, 0.5, 1.0][i / plane];
        assert!((n - (p - 0.5) / std).abs() < 1e-6);
    }
    // --resize 30 for a 32 crop: torchvision pads with zeros, which normalise to -mean/std.
    ok(&run(&["--resize", "30"]));
    let (_, padded) = read_npy(&x);
    let (_, want) = read_npy(&Path::new(IMAGES).join("palette.32x32.r30.npy"));
    assert!(padded == want, "bit for bit, as the PNG tests");
    std::fs::remove_file(&x).ok();

    let o = resc(&["run", "--model", "resnet20", "--random-weights", "1", "--input", SAMPLE, "--preprocess", "none"]);
    let err = fails(&o, 1, "resc::image::size");
    assert!(err.contains("examples/sample.jpg is 320x240 (width x height), the model takes 32x32"), "{err}");
}

#[test]
fn bad_preprocessing_flags_are_coded_errors() {
    let base = ["run", "--model", "resnet20", "--random-weights", "1"];
    let photo = |extra: &[&str]| resc(&[&base[..], &["--input", SAMPLE], extra].concat());
    fails(&photo(&["--std", "0,1,1"]), 2, "resc::run::mean_std");
    fails(&photo(&["--mean", "1,2"]), 2, "resc::run::mean_std");
    fails(&photo(&["--mean", "nan,0,0"]), 2, "resc::run::mean_std");
    fails(&photo(&["--preprocess", "none", "--resize", "40"]), 2, "resc::run::preprocess_flags");
    // Photo flags with an array input are an error, not silently ignored.
    let o = resc(&[&base[..], &["--random-input", "1x3x32x32", "--mean", "0,0,0"]].concat());
    let err = fails(&o, 2, "resc::run::preprocess_flags");
    assert!(err.contains("--mean: for photos (PNG, JPEG) only, and the input is a random tensor"), "{err}");
    // A negative mean is a value, not a flag.
    ok(&photo(&["--mean", "-0.5,0,0.5"]));
}

#[test]
fn label_files_name_the_classes_and_must_count_them() {
    let labels = tmp("labels.txt");
    let names: Vec<String> = (0..10).map(|i| format!("thing {i}")).collect();
    std::fs::write(&labels, names.join("\n") + "\n").unwrap();
    let base = ["run", "--model", "resnet20", "--random-weights", "1", "--input", SAMPLE, "--top", "3"];
    let out = ok(&resc(&[&base[..], &["--labels", labels.to_str().unwrap()]].concat()));
    let top = ranked(&out, SAMPLE);
    assert_eq!(top.len(), 3, "{out}");
    assert!(top.iter().all(|(_, _, name, class)| *name == format!("thing {class}")), "{out}");
    // resnet20 has 10 classes, not 1000: numbers without a label file.
    let out = ok(&resc(&base));
    assert!(out.contains("  1. ") && out.contains("  class "), "{out}");

    std::fs::write(&labels, "cat\ndog\nbird\n").unwrap();
    let o = resc(&[&base[..], &["--labels", labels.to_str().unwrap()]].concat());
    let err = fails(&o, 1, "resc::run::labels");
    assert!(err.contains("names 3 classes, and `resnet20` outputs 10"), "{err}");
    std::fs::remove_file(&labels).ok();
    fails(&resc(&[&base[..], &["--labels", "/no/such/labels.txt"]].concat()), 2, "resc::cli::unreadable");
    // --labels needs --top (clap's usage error).
    let o = resc(&["run", "--model", "resnet20", "--random-weights", "1", "--input", SAMPLE, "--labels", "x.txt"]);
    assert_eq!(o.status.code(), Some(2));
}

/// A model whose output is not [N, classes] cannot rank classes; a model
/// that does not take three channels cannot take photos.
#[test]
fn top_and_photos_need_a_classifier_of_rgb_images() {
    let res = tmp("features.res");
    std::fs::write(&res, "network f() {\n    c: conv(4, 1)\n}\n\nmodel f = f() on [N, 3, 8, 8]\n").unwrap();
    let o = resc(&["run", res.to_str().unwrap(), "--random-weights", "1", "--input", SAMPLE, "--top", "5"]);
    let err = fails(&o, 2, "resc::run::top");
    assert!(err.contains("`f` outputs [N, 4, 8, 8]"), "{err}");
    std::fs::remove_file(&res).ok();
    let o = resc(&["run", "tests/fixtures/output_read_early.res", "--random-weights", "1", "--input", SAMPLE]);
    fails(&o, 1, "resc::run::image_model");
}

/// A PNG header that claims 100000 x 100000 pixels, with a few bytes of data.
fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }
    let chunk = |kind: &[u8], data: &[u8]| {
        let body = [kind, data].concat();
        [&(data.len() as u32).to_be_bytes()[..], &body, &crc32(&body).to_be_bytes()].concat()
    };
    let ihdr = [&width.to_be_bytes()[..], &height.to_be_bytes(), &[8, 2, 0, 0, 0]].concat();
    // zlib: a stored block of 16 zero bytes.
    let idat = [&[0x78, 0x01, 0x01, 0x10, 0x00, 0xef, 0xff][..], &[0; 16], &[0x00, 0x10, 0x00, 0x01]].concat();
    [&b"\x89PNG\r\n\x1a\n"[..], &chunk(b"IHDR", &ihdr), &chunk(b"IDAT", &idat), &chunk(b"IEND", &[])].concat()
}

#[test]
fn files_that_are_not_usable_photos_are_coded_errors_not_panics() {
    let run =
        |path: &Path| resc(&["run", "--model", "resnet20", "--random-weights", "1", "--input", path.to_str().unwrap()]);
    let sample = std::fs::read(SAMPLE).unwrap();
    let png = std::fs::read("tests/fixtures/images/rgba.png").unwrap();
    let cases: Vec<(&str, Vec<u8>, i32, &str)> = vec![
        ("truncated.jpg", sample[..sample.len() / 2].to_vec(), 2, "resc::image::decode"),
        ("truncated.png", png[..png.len() / 2].to_vec(), 2, "resc::image::decode"),
        ("garbage.jpg", b"\xff\xd8\xff\xe0 not really a jpeg".to_vec(), 2, "resc::image::decode"),
        ("empty.png", Vec::new(), 2, "resc::image::decode"),
        ("bomb.png", png_claiming(100_000, 100_000), 2, "resc::image::too_large"),
        // Just above Pillow's limit of 178956970 pixels.
        ("wide.png", png_claiming(178_957, 1_000), 2, "resc::image::too_large"),
        ("anim.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec(), 2, "resc::image::unsupported"),
        ("notes.txt", b"a cat, probably".to_vec(), 2, "resc::run::input_kind"),
        ("no_extension", b"BM but not a bitmap".to_vec(), 2, "resc::run::input_kind"),
    ];
    for (name, bytes, exit, code) in cases {
        let path = tmp(name);
        std::fs::write(&path, &bytes).unwrap();
        let o = run(&path);
        std::fs::remove_file(&path).ok();
        let err = fails(&o, exit, code);
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
    // A JPEG whose header claims 65000 x 65000 (the frame header patched): refused before decoding.
    let mut bomb = sample.clone();
    let sof = bomb.windows(2).position(|w| w == [0xFF, 0xC0]).expect("a baseline frame header");
    bomb[sof + 5..sof + 9].copy_from_slice(&[0xFD, 0xE8, 0xFD, 0xE8]);
    let path = tmp("bomb.jpg");
    std::fs::write(&path, &bomb).unwrap();
    let o = run(&path);
    std::fs::remove_file(&path).ok();
    let err = fails(&o, 2, "resc::image::too_large");
    assert!(err.contains("65000x65000"), "{err}");

    // Photos and arrays do not mix.
    let x = tmp("mixed.npy");
    ok(&resc(&[
        "run",
        "--model",
        "resnet20",
        "--random-weights",
        "1",
        "--random-input",
        "1x3x32x32",
        "--save-input",
        x.to_str().unwrap(),
    ]));
    let o = resc(&["run", "--model", "resnet20", "--random-weights", "1", "--input", SAMPLE, x.to_str().unwrap()]);
    std::fs::remove_file(&x).ok();
    fails(&o, 2, "resc::run::mixed_inputs");
}

/// A 16-bit grayscale PNG clips as Pillow clips it, and says so.
#[test]
fn sixteen_bit_gray_is_clipped_as_pillow_clips_it_with_a_note() {
    let o =
        resc(&["run", "--model", "resnet20", "--random-weights", "1", "--input", "tests/fixtures/images/gray16.png"]);
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("is 16-bit grayscale") && err.contains("clipped to 255, as Pillow"), "{err}");
}
