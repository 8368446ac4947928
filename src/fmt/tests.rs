use super::*;

fn fmt(src: &str) -> String {
    match format_source(src) {
        Ok(out) => out,
        Err(e) => panic!("{e}: {e:?}\n{src}"),
    }
}

#[test]
fn spacing_is_normalised() {
    let src = "block  b( planes:int,stride : int=1 ){\nconv1:conv(planes,3,stride:stride ,pad:1);bn1:bn;   relu\nlayer{i+1}:block(planes ,stride:i>0?2:1)then block(planes)*(layers[ i ]-1)\n}\n";
    let want = "block b(planes: int, stride: int = 1) {\n    conv1: conv(planes, 3, stride: stride, pad: 1);  bn1: bn;  relu\n    layer{i + 1}: block(planes, stride: i > 0 ? 2 : 1) then block(planes) * (layers[i] - 1)\n}\n";
    assert_eq!(fmt(src), want);
}

#[test]
fn signs_ranges_fields_and_types() {
    let src = "network n(l: [int;4]) {\n    for j in 0 .. n { x{j}_a{ j }: conv(- 1, in . c) }\n    assert not (a - -1) , \"m\"\n}\n";
    let want = "network n(l: [int; 4]) {\n    for j in 0..n { x{j}_a{j}: conv(-1, in.c) }\n    assert not (a - -1), \"m\"\n}\n";
    assert_eq!(fmt(src), want);
}

#[test]
fn blank_lines_and_items() {
    let src = "\n\n// a\nuse resnet\n\n\n\nblock a() {\n\n    relu\n\n\n    relu\n\n}\nblock b() { relu }\nmodel m = b() on [N, 3, 8, 8]\n\n";
    let want = "// a\nuse resnet\n\nblock a() {\n    relu\n\n    relu\n}\n\nblock b() { relu }\nmodel m = b() on [N, 3, 8, 8]\n";
    assert_eq!(fmt(src), want);
}

#[test]
fn models_align_and_comments_stay() {
    let src = "model a = n() on [N, 3, 8, 8] // one\nmodel bbb = n() on [N, 3, 8, 8]   // two\n/* block */ model c = n(/* x */ 1, 2) on [N, 3, 8, 8]\n";
    let want = "model a   = n() on [N, 3, 8, 8]  // one\nmodel bbb = n() on [N, 3, 8, 8]  // two\n/* block */ model c = n(/* x */ 1, 2) on [N, 3, 8, 8]\n";
    assert_eq!(fmt(src), want);
}

#[test]
fn long_lines_are_wrapped() {
    let long_args = "model resnest50d_4s2x40d = resnest([3, 4, 6, 3], radix: 4, groups: 2, base_width: 40, avd_first: true) on [N, 3, 224, 224]\n";
    let want = "model resnest50d_4s2x40d = resnest(\n    [3, 4, 6, 3],\n    radix: 4,\n    groups: 2,\n    base_width: 40,\n    avd_first: true,\n) on [N, 3, 224, 224]\n";
    assert_eq!(fmt(long_args), want);
    let with =
        "model resnet110_sd = resnet_cifar(basic(proj: option_a), 18) on [N, 3, 32, 32] with drop_path(linear(0.5))\n";
    let want = "model resnet110_sd = resnet_cifar(basic(proj: option_a), 18) on [N, 3, 32, 32]\n    with drop_path(linear(0.5))\n";
    assert_eq!(fmt(with), want);
    let body = "network d() {\n        denseblock{i + 1}: dense { for j in 0..n { denselayer{j + 1}: dense_layer(growth, bn_size, more_and_more) } }\n}\n";
    let want = "network d() {\n    denseblock{i + 1}: dense {\n        for j in 0..n { denselayer{j + 1}: dense_layer(growth, bn_size, more_and_more) }\n    }\n}\n";
    assert_eq!(fmt(body), want);
}

#[test]
fn syntax_errors_are_refused() {
    for bad in ["block a( {", "model m = n() on", "block a() { x: conv(1,, 2) }", "\"open"] {
        let err = format_source(bad).unwrap_err();
        assert!(matches!(err, FmtError::Syntax { .. }), "{bad}: {err:?}");
        assert_eq!(err.code().map(|c| c.to_string()).as_deref(), Some("resc::fmt::syntax"));
    }
}

#[test]
fn empty_and_comment_only_text() {
    assert_eq!(fmt(""), "");
    assert_eq!(fmt("  \n\n"), "");
    assert_eq!(fmt("// only   \n\n\n/* a  \n   b */\n"), "// only\n\n/* a\n   b */\n");
}
