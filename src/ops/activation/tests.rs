use super::*;

fn build(spec: &Spec) -> Activation {
    let defaults: Vec<f64> = spec.params.iter().map(|p| p.1).collect();
    (spec.build)(&defaults)
}

fn by_name(name: &str) -> Activation {
    build(spec(name).unwrap_or_else(|| panic!("no activation {name}")))
}

#[test]
fn each_spec_builds_its_own_activation() {
    for (i, s) in SPECS.iter().enumerate() {
        assert!(SPECS[..i].iter().all(|t| t.name != s.name), "{} listed twice", s.name);
        let a = build(s);
        assert_eq!(a.name(), s.name);
        let consts: Vec<&str> = a.def().consts().iter().map(|c| c.0).collect();
        let params: Vec<&str> = s.params.iter().map(|p| p.0).collect();
        assert_eq!(consts, params, "{}", s.name);
    }
}

/// The reference and the engine are written apart; they must agree
/// everywhere, tails and large values included, and both keep NaN.
#[test]
fn reference_and_engine_agree() {
    let mut xs: Vec<f32> = (-4000..=4000).map(|i| i as f32 / 100.0).collect();
    xs.extend([-1e30, -100.0, -89.0, 88.5, 100.0, 1e30, 1e-30, -1e-30, f32::MIN_POSITIVE]);
    for s in SPECS {
        let a = build(s);
        for &x in &xs {
            let (r, e) = (a.def().reference(x), a.def().engine(x));
            let tol = 2e-6 * r.abs().max(1.0);
            assert!((r - e).abs() <= tol, "{}({x}): reference {r}, engine {e}", s.name);
        }
        assert!(a.def().reference(f32::NAN).is_nan(), "{} reference lost a NaN", s.name);
        let mut y = [0.0; 3];
        a.def().engine_all(&[1.0, f32::NAN, -1.0], &mut y);
        assert!(y[1].is_nan(), "{} engine lost a NaN", s.name);
        assert_eq!(y[0], a.def().engine(1.0));
    }
}

/// Values of PyTorch's definitions (`torch.nn.functional`), computed in
/// double precision with Python's `math` module: no PyTorch on this machine.
#[test]
fn known_values() {
    let cases: &[(&str, f32, f64)] = &[
        ("relu", -2.0, 0.0),
        ("relu6", 7.0, 6.0),
        ("leaky_relu", -2.0, -0.02),
        ("sigmoid", 1.0, 0.731_058_578_630_004_9),
        ("tanh", 0.5, 0.462_117_157_260_009_7),
        ("gelu", 1.0, 0.841_344_746_068_542_9),
        ("gelu", -3.0, -0.004_049_694_095_838_7),
        ("silu", 1.0, 0.731_058_578_630_004_9),
        ("elu", -1.0, -0.632_120_558_828_557_7),
        ("hard_sigmoid", 1.0, 0.666_666_666_666_666_6),
        ("hard_sigmoid", -3.5, 0.0),
        ("hard_sigmoid", 3.5, 1.0),
        ("hard_swish", 1.0, 0.666_666_666_666_666_6),
        ("hard_swish", -1.0, -0.333_333_333_333_333_3),
        ("hard_swish", -4.0, 0.0),
        ("hard_swish", 4.0, 4.0),
        ("mish", 1.0, 0.865_098_388_267_310_3),
        ("mish", -1.0, -0.303_401_461_374_108_95),
        ("mish", 30.0, 30.0),
    ];
    for &(name, x, want) in cases {
        let a = by_name(name);
        for (which, got) in [("reference", a.def().reference(x)), ("engine", a.def().engine(x))] {
            assert!((f64::from(got) - want).abs() <= 1e-6, "{name}({x}) {which}: {got}, PyTorch {want}");
        }
    }
}
