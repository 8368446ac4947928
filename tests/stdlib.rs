//! The standard library against its references: every model of
//! ../shared/FAMILIES.md, compared with fixtures written from torchvision and
//! timm by tests/fixtures/gen_state.py (parameters, MACs, and every
//! state_dict name and shape), and the CIFAR models against the papers' tables.

use std::collections::HashMap;

use resc::backend::json::{self, Summary};
use resc::driver::{self, Select};
use resc::sema::Program;
use resc::stdlib;

/// Every model the standard library defines, by name.
fn all_models() -> HashMap<String, Summary> {
    let mut out = HashMap::new();
    for name in stdlib::NAMES {
        let prog = Program::load_text(&stdlib::display_name(name), None, stdlib::source(name).expect("module"));
        let graphs = driver::compile(&prog, Select::Root).unwrap_or_else(|d| panic!("{name}: {d:?}"));
        assert!(!graphs.is_empty(), "{name} defines models");
        for g in graphs {
            assert!(out.insert(g.name.clone(), json::summary(&g)).is_none(), "{} defined twice", g.name);
        }
    }
    out
}

struct Fixture {
    params: u128,
    macs: u128,
    input: Vec<u64>,
    state: Vec<(String, String, String)>,
}

fn fixture(path: &std::path::Path) -> Fixture {
    let text = std::fs::read_to_string(path).expect("fixture");
    let mut lines = text.lines();
    // `# params P macs M input 3xHxW`
    let header: Vec<&str> = lines.next().expect("header").split(' ').collect();
    let input = header[6].split('x').map(|d| d.parse().expect("dim")).collect();
    let state = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[0].to_string(), f[1].to_string(), f[2].to_string())
        })
        .collect();
    Fixture { params: header[2].parse().expect("params"), macs: header[4].parse().expect("macs"), input, state }
}

fn state_of(s: &Summary) -> Vec<(String, String, String)> {
    s.state
        .iter()
        .map(|e| {
            let shape = e.shape.iter().map(u64::to_string).collect::<Vec<_>>().join("x");
            let kind = serde_json::to_value(e.kind).expect("kind").as_str().expect("str").to_string();
            (e.name.clone(), shape, kind)
        })
        .collect()
}

/// The reference numbers of FAMILIES.md, as the test's own copy.
const FAMILIES: &[(&str, u128, u128)] = &[
    ("resnet18", 11_689_512, 1_814_073_344),
    ("resnet34", 21_797_672, 3_663_761_408),
    ("resnet50", 25_557_032, 4_089_184_256),
    ("resnet101", 44_549_160, 7_801_405_440),
    ("resnet152", 60_192_808, 11_513_626_624),
    ("wide_resnet50_2", 68_883_240, 11_398_021_120),
    ("wide_resnet101_2", 126_886_696, 22_753_050_624),
    ("resnext50_32x4d", 25_028_904, 4_230_479_872),
    ("resnext101_32x8d", 88_791_336, 16_414_015_488),
    ("resnext101_64x4d", 83_455_272, 15_460_270_080),
    ("densenet121", 7_978_856, 2_834_161_664),
    ("densenet161", 28_681_000, 7_727_907_072),
    ("densenet169", 14_149_480, 3_359_843_328),
    ("densenet201", 20_013_928, 4_291_365_888),
    ("resnetv2_50", 25_549_352, 4_089_184_256),
    ("resnetv2_101", 44_541_480, 7_801_405_440),
    ("dpn68", 12_611_602, 2_326_163_456),
    ("dpn92", 37_668_392, 6_501_684_224),
    ("dpn98", 61_570_728, 11_671_217_152),
    ("dpn107", 86_917_800, 18_298_764_288),
    ("dpn131", 79_254_504, 16_013_648_896),
    ("resnest14d", 10_611_688, 2_749_405_184),
    ("resnest26d", 17_069_448, 3_623_391_232),
    ("resnest50d", 27_483_240, 5_371_160_576),
    ("resnest101e", 48_275_016, 13_321_472_000),
    ("resnest200e", 70_201_544, 35_519_694_848),
    ("resnest269e", 110_929_480, 77_348_702_208),
    ("resnest50d_4s2x40d", 30_417_592, 4_369_060_736),
    ("resnest50d_1s4x24d", 25_677_000, 4_399_827_456),
];

/// Each model of the table has exactly these parameters and MACs, and
/// ImageNet's 1000 classes.
fn assert_counts(table: &[(&str, u128, u128)]) {
    let models = all_models();
    for &(name, params, macs) in table {
        let s = models.get(name).unwrap_or_else(|| panic!("the standard library lacks {name}"));
        assert_eq!((s.params, s.macs), (params, macs), "{name}: params, MACs");
        assert_eq!(s.output, vec![1, 1000], "{name}");
    }
}

#[test]
fn every_reference_model_matches_families_md() {
    assert_counts(FAMILIES);
}

#[test]
fn every_fixture_matches_names_shapes_and_counts() {
    let models = all_models();
    let mut checked = Vec::new();
    for entry in std::fs::read_dir("tests/fixtures/state").expect("fixtures").flatten() {
        let path = entry.path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let want = fixture(&path);
        let s = models.get(&name).unwrap_or_else(|| panic!("no model for fixture {name}"));
        assert_eq!((s.params, s.macs), (want.params, want.macs), "{name}");
        assert_eq!(s.input[1..], want.input[..], "{name}: input");
        let got = state_of(s);
        assert_eq!(got.len(), want.state.len(), "{name}: number of state entries");
        if name.starts_with("resnetv2") || name == "gcresnet50t" {
            // timm registers a pre-activation block's projection (and a
            // ByobNet block's shortcut) before its branch; resc lists state
            // in dataflow order, branch first. Same names and shapes.
            let (mut g, mut w) = (got.clone(), want.state.clone());
            g.sort();
            w.sort();
            assert_eq!(g, w, "{name}");
        } else {
            for (g, w) in got.iter().zip(&want.state) {
                assert_eq!(g, w, "{name}: first difference in state_dict order");
            }
        }
        checked.push(name);
    }
    for (name, _, _) in FAMILIES.iter().chain(TIMM_VARIANTS) {
        assert!(checked.iter().any(|c| c == name), "no torchvision or timm fixture for {name}");
    }
}

/// The CIFAR tables of the papers, as printed: a count matches when it rounds
/// to the printed figure, or lies within 2% of it.
#[test]
fn cifar_models_match_the_papers_tables() {
    let table: &[(&str, f64, u32)] = &[
        ("resnet20", 0.27, 2),
        ("resnet32", 0.46, 2),
        ("resnet44", 0.66, 2),
        ("resnet56", 0.85, 2),
        ("resnet110", 1.7, 1),
        ("resnet1202", 19.4, 1),
        ("preact_resnet164", 1.7, 1),
        ("preact_resnet1001", 10.2, 1),
        ("wrn_40_4", 8.9, 1),
        ("wrn_16_8", 11.0, 1),
        ("wrn_28_10", 36.5, 1),
        ("resnext29_8x64d", 34.4, 1),
        ("resnext29_16x64d", 68.1, 1),
        ("resnet110_sd", 1.7, 1),
        ("densenet40_k12", 1.0, 1),
        ("densenet_bc100_k12", 0.8, 1),
        ("densenet_bc250_k24", 15.3, 1),
        ("densenet_bc190_k40", 25.6, 1),
    ];
    let models = all_models();
    for &(name, printed, decimals) in table {
        let s = models.get(name).unwrap_or_else(|| panic!("the standard library lacks {name}"));
        let millions = s.params as f64 / 1e6;
        let scale = 10f64.powi(decimals as i32);
        let rounds_to = (millions * scale).round() / scale;
        let within = (millions - printed).abs() / printed < 0.02;
        assert!((rounds_to - printed).abs() < 1e-9 || within, "{name}: {millions:.4}M vs {printed}M printed");
        assert_eq!(s.input, vec![1, 3, 32, 32], "{name}");
        assert_eq!(s.output, vec![1, 10], "{name}");
    }
}

#[test]
fn option_a_shortcuts_have_no_parameters() {
    let models = all_models();
    for name in ["resnet20", "resnet110", "resnet1202"] {
        assert!(models[name].state.iter().all(|e| !e.name.contains("downsample")), "{name}");
    }
}

#[test]
fn resnet110_sd_survival_falls_linearly_to_one_half() {
    let models = all_models();
    let dp = models["resnet110_sd"].drop_path.as_ref().expect("a schedule");
    assert_eq!(dp.blocks.len(), 54);
    for (l, b) in dp.blocks.iter().enumerate() {
        let want = 1.0 - (l + 1) as f64 / 54.0 * 0.5;
        assert!((b.survival - want).abs() < 1e-12, "block {l}: {}", b.survival);
    }
    assert_eq!(dp.blocks[0].block, "layer1.0");
    assert_eq!(dp.blocks[53].block, "layer3.17");
    assert!((dp.blocks[53].survival - 0.5).abs() < 1e-12);
    // timm's convention: drop rates linspace(0, rate), so the first block never drops.
    let timm = models["resnet50_dp"].drop_path.as_ref().expect("a schedule");
    assert_eq!(timm.blocks.len(), 16);
    assert_eq!(timm.blocks[0].survival, 1.0);
    assert!((timm.blocks[15].survival - 0.95).abs() < 1e-12);
    // Stochastic depth adds no parameters.
    assert_eq!(models["resnet110_sd"].params, models["resnet110"].params);
}

#[test]
fn every_example_compiles() {
    let mut n = 0;
    for entry in std::fs::read_dir("examples").expect("examples dir").flatten() {
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "res") {
            let prog = driver::load(&p).expect("readable");
            driver::compile(&prog, Select::Root).unwrap_or_else(|d| panic!("{}: {d:?}", p.display()));
            n += 1;
        }
    }
    assert!(n >= 3, "expected at least 3 examples, found {n}");
}

#[test]
fn stdlib_on_disk_is_the_embedded_copy() {
    for name in stdlib::NAMES {
        let disk = std::fs::read_to_string(format!("stdlib/{name}.res")).expect("stdlib file");
        assert_eq!(disk, stdlib::source(name).expect("embedded"), "{name}");
    }
}

/// Each family fits on a screen: under 60 lines of code (100 for resnet.res,
/// which holds both block kinds and eleven models, for resnest.res, whose
/// long signatures and models `resc fmt` wraps one argument per line, as it
/// does sknet.res's (timm's selective kernel has six knobs), and for
/// resnetv2.res: the paper's ImageNet and CIFAR networks and BiT's five).
#[test]
fn stdlib_files_are_concise() {
    for name in stdlib::NAMES {
        let text = stdlib::source(name).expect("module");
        let code = text.lines().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("//")).count();
        let limit = if matches!(*name, "resnet" | "resnest" | "resnetv2" | "sknet") { 100 } else { 60 };
        assert!(code < limit, "stdlib/{name}.res has {code} lines of code");
    }
}

/// timm's resnet50_gn is resnet50 with GroupNorm(32) for every BatchNorm:
/// timm 1.0.31's counts (as issue 10 gives them), and resnet50's state_dict
/// (the torchvision fixture, which timm's ResNet names the same) without
/// the running statistics a group norm does not have.
#[test]
fn resnet50_gn_is_resnet50_with_group_norm() {
    let models = all_models();
    let s = &models["resnet50_gn"];
    assert_eq!((s.params, s.macs), (25_557_032, 4_089_184_256));
    let want: Vec<_> = fixture(std::path::Path::new("tests/fixtures/state/resnet50.txt"))
        .state
        .into_iter()
        .filter(|e| e.2 == "param")
        .collect();
    // Batch norms would add their running statistics.
    assert_eq!(state_of(s), want);
}

/// timm 1.0.31's counts for its ResNet variants, as issue 10 gives them
/// (parameters; conv and linear MACs at the model's default input size).
const TIMM_VARIANTS: &[(&str, u128, u128)] = &[
    ("resnet50d", 25_576_264, 4_328_824_832),
    ("seresnet50", 28_088_024, 4_091_699_200),
    ("seresnext50_32x4d", 27_559_896, 4_232_994_816),
    ("resnetrs50", 35_691_912, 2_278_629_376),
    ("ecaresnet50d", 25_576_350, 4_328_912_640),
    ("resnetv2_50x1_bit", 25_549_352, 4_089_184_256),
    ("resnet50_gn", 25_557_032, 4_089_184_256),
    ("resnetblur50", 25_557_032, 5_133_020_672),
    ("skresnet18", 11_958_056, 1_814_337_536),
    ("gcresnet50t", 25_897_080, 5_389_487_104),
];

#[test]
fn timm_variants_match_timm_counts() {
    assert_counts(TIMM_VARIANTS);
}

/// The other depths come out of the same definitions: their parameter
/// counts, in millions to two decimals, as timm's own results table lists
/// them (results/benchmark-infer-amp-nchw-pt240-cu124-rtx4090.csv).
#[test]
fn other_depths_match_timms_results_table() {
    let table: &[(&str, f64)] = &[
        ("resnet18d", 11.71),
        ("resnet26d", 16.01),
        ("resnet101d", 44.57),
        ("resnet26t", 16.01),
        ("resnet50t", 25.57),
        ("seresnet18", 11.78),
        ("seresnet34", 21.96),
        ("seresnet101", 49.33),
        ("seresnet152", 66.82),
        ("seresnext101_32x4d", 48.96),
        ("resnetrs101", 63.62),
        ("resnetrs152", 86.62),
        ("ecaresnet26t", 16.01),
        ("ecaresnet50t", 25.57),
        ("ecaresnet101d", 44.57),
        ("resnetv2_50x3_bit", 217.32),
        ("resnetv2_101x1_bit", 44.54),
        ("resnetv2_101x3_bit", 387.93),
        ("resnetv2_152x2_bit", 236.34),
        ("resnetblur18", 11.69),
        ("resnetblur50d", 25.58),
        ("resnetblur101d", 44.57),
        ("skresnet34", 22.28),
        ("skresnet50", 25.80),
        ("skresnet50d", 25.82),
        ("skresnext50_32x4d", 27.48),
    ];
    let models = all_models();
    for &(name, millions) in table {
        let s = models.get(name).unwrap_or_else(|| panic!("the standard library lacks {name}"));
        let got = (s.params as f64 / 1e4).round() / 100.0;
        assert_eq!(got, millions, "{name}: {} parameters", s.params);
    }
}

type State = Vec<(String, String, String)>;

fn fixture_state(name: &str) -> State {
    fixture(&std::path::Path::new("tests/fixtures/state").join(format!("{name}.txt"))).state
}

fn entry(name: String, shape: String, kind: &str) -> (String, String, String) {
    (name, shape, kind.to_string())
}

/// A batch norm's four entries, as timm registers them.
fn bn_entries(prefix: &str, c: u64) -> State {
    [("weight", "param"), ("bias", "param"), ("running_mean", "buffer"), ("running_var", "buffer")]
        .iter()
        .map(|(n, k)| entry(format!("{prefix}.{n}"), c.to_string(), k))
        .collect()
}

/// timm's deep stem in place of torchvision's 7x7 conv: resnest50d's stem
/// (the timm fixture), which is resnet50d's.
fn with_deep_stem(state: State) -> State {
    let stem = fixture_state("resnest50d").into_iter().filter(|e| e.0.starts_with("conv1.") || e.0.starts_with("bn1."));
    stem.chain(state.into_iter().filter(|e| !e.0.starts_with("conv1.") && !e.0.starts_with("bn1."))).collect()
}

/// timm's average-pool shortcut: the pool is `downsample.0`, so the conv
/// and the norm move up one place.
fn with_avg_down(state: State) -> State {
    state
        .into_iter()
        .map(|(n, s, k)| (n.replace("downsample.1.", "downsample.2.").replace("downsample.0.", "downsample.1."), s, k))
        .collect()
}

/// After each block's last norm (`bn3`, whose channels are the block's
/// output), the entries of its attention module `se`.
fn with_attention(state: State, module: impl Fn(&str, u64) -> State) -> State {
    let mut out = Vec::new();
    for e in state {
        let block = e.0.strip_suffix(".bn3.running_var").map(str::to_string);
        let c: u64 = e.1.parse().unwrap_or(0);
        out.push(e);
        if let Some(block) = block {
            out.extend(module(&format!("{block}.se"), c));
        }
    }
    out
}

/// timm's SEModule: fc1 down to C * ratio channels (a multiple of 8 for
/// these widths), fc2 back, both with bias.
fn with_se(state: State, ratio: f64) -> State {
    with_attention(state, |se, c| {
        let rd = (c as f64 * ratio) as u64;
        assert_eq!(rd % 8, 0, "{se}: timm would round {rd}");
        vec![
            entry(format!("{se}.fc1.weight"), format!("{rd}x{c}x1x1"), "param"),
            entry(format!("{se}.fc1.bias"), rd.to_string(), "param"),
            entry(format!("{se}.fc2.weight"), format!("{c}x{rd}x1x1"), "param"),
            entry(format!("{se}.fc2.bias"), c.to_string(), "param"),
        ]
    })
}

/// timm's EcaModule: one Conv1d(1, 1, k) without bias, k from timm's
/// formula (t = int(|log2 C + 1| / 2), made odd, at least 3).
fn with_eca(state: State) -> State {
    with_attention(state, |se, c| {
        let t = (((c as f64).log2() + 1.0).abs() / 2.0) as u64;
        let k = (if t % 2 == 1 { t } else { t + 1 }).max(3);
        vec![entry(format!("{se}.conv.weight"), format!("1x1x{k}"), "param")]
    })
}

/// Without a timm fixture of their own (no PyTorch here), the variants'
/// state_dicts are built from the torchvision and timm fixtures by timm's
/// own construction rules, which are independent of resc's definitions.
#[test]
fn timm_variants_have_timms_names_and_shapes() {
    let models = all_models();
    let resnet50d = with_avg_down(with_deep_stem(fixture_state("resnet50")));
    let mut resnetrs50 = with_se(resnet50d.clone(), 0.25);
    // ResNet-RS's stem pool is a conv and a norm, registered after bn1.
    let at = resnetrs50.iter().position(|e| e.0.starts_with("layer1.")).expect("layer1");
    let mut pool = vec![entry("maxpool.0.weight".into(), "64x64x3x3".into(), "param")];
    pool.extend(bn_entries("maxpool.1", 64));
    resnetrs50.splice(at..at, pool);
    let cases = [
        ("ecaresnet50d", with_eca(resnet50d.clone())),
        ("resnet50d", resnet50d),
        ("seresnet50", with_se(fixture_state("resnet50"), 1.0 / 16.0)),
        ("seresnext50_32x4d", with_se(fixture_state("resnext50_32x4d"), 1.0 / 16.0)),
        ("resnetrs50", resnetrs50),
    ];
    for (name, want) in cases {
        let got = state_of(&models[name]);
        assert_eq!(got.len(), want.len(), "{name}: number of state entries");
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{name}: first difference in state_dict order");
        }
    }
}

/// `make_divisible` as timm's: nearest multiple, at least `min`, and one
/// more step when rounding lost more than `round_limit` of the value.
#[test]
fn make_divisible_rounds_as_timm() {
    let text = "network net() {
        a: conv(make_divisible(11.9), 1)
        b: conv(make_divisible(11.9, 8, 8, 0.0), 1)
        c: conv(make_divisible(3, 8), 1)
        d: conv(make_divisible(100, 32, 32), 1)
        e: conv(make_divisible(100, 32, 32, 0.99), 1)
    }
    model m = net() on [N, 3, 8, 8]";
    let prog = Program::load_text("t.res", None, text);
    let g = driver::compile(&prog, Select::Root).unwrap_or_else(|d| panic!("{d:?}")).remove(0);
    let outs: Vec<u64> = json::summary(&g).state.iter().map(|e| e.shape[0]).collect();
    assert_eq!(outs, [16, 8, 8, 96, 128]);
}
