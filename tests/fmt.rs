//! `resc fmt`: idempotent, keeps every comment, never changes what a file
//! means (the models' JSON summaries, or the error codes), ignores the
//! whitespace it is given, and leaves the standard library and examples as
//! they are. Then the command line: in place, stdin, `--check`, exit codes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use resc::backend::json;
use resc::driver::{self, Select};
use resc::fmt::{FmtError, format_source};
use resc::sema::Program;

fn res_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            res_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "res") {
            out.push(p);
        }
    }
}

fn corpus() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["stdlib", "examples", "tests/cases", "tests/fixtures"] {
        res_files(Path::new(dir), &mut files);
    }
    assert!(files.len() > 50, "the corpus is missing: {files:?}");
    files
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn has_syntax_errors(text: &str) -> bool {
    !resc::syntax::parse_file(resc::source::FileId(0), text).1.is_empty()
}

/// What the file means: each model's JSON summary, or the codes of its errors.
fn meaning(path: &Path, text: &str) -> Result<Vec<String>, Vec<Option<String>>> {
    let prog = Program::load_text(&path.display().to_string(), path.parent(), text);
    match driver::compile(&prog, Select::Root) {
        Ok(graphs) => Ok(graphs.iter().map(|g| serde_json::to_string(&json::summary(g)).expect("json")).collect()),
        Err(diags) => Err(diags.iter().map(|d| d.code()).collect()),
    }
}

/// Comments in order, found by a scan of its own (not the formatter's lexer).
fn comments(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(['"', '/']) {
        let tail = &rest[at..];
        let skip = if let Some(string) = tail.strip_prefix('"') {
            string.find(['"', '\n']).map_or(tail.len(), |n| n + 2)
        } else if tail.starts_with("//") {
            let n = tail.find('\n').unwrap_or(tail.len());
            found.push(tail[..n].trim_end().to_string());
            n
        } else if tail.starts_with("/*") {
            let n = tail.find("*/").map_or(tail.len(), |n| n + 2);
            found.push(tail[..n].lines().map(str::trim_end).collect::<Vec<_>>().join("\n"));
            n
        } else {
            1
        };
        rest = &tail[skip.min(tail.len())..];
    }
    found
}

/// Applies `f` to the stretches of `text` outside strings and comments.
fn outside_strings_and_comments(text: &str, f: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let mut code = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(['"', '/']) {
        let tail = &rest[at..];
        let n = if let Some(string) = tail.strip_prefix('"') {
            string.find(['"', '\n']).map_or(tail.len(), |n| n + 2)
        } else if tail.starts_with("//") {
            tail.find('\n').unwrap_or(tail.len())
        } else if tail.starts_with("/*") {
            tail.find("*/").map_or(tail.len(), |n| n + 2)
        } else {
            code += &rest[..at + 1];
            rest = &rest[at + 1..];
            continue;
        };
        code += &rest[..at];
        out += &f(&code);
        code.clear();
        out += &tail[..n.min(tail.len())];
        rest = &tail[n.min(tail.len())..];
    }
    code += rest;
    out + &f(&code)
}

/// The same file with other whitespace, but the same line breaks between
/// tokens (a line break is the author's choice, which the formatter keeps).
fn scrambles(text: &str) -> Vec<(&'static str, String)> {
    let unindent = |s: &str| s.split('\n').map(|l| l.trim_start_matches([' ', '\t'])).collect::<Vec<_>>().join("\n");
    vec![
        ("no indentation", outside_strings_and_comments(text, unindent)),
        ("doubled spaces", outside_strings_and_comments(text, |s| s.replace(' ', "  "))),
        (
            "tabs and trailing blanks",
            outside_strings_and_comments(text, |s| s.replace('\n', " \t\n\t").replace(' ', "\t ")),
        ),
        (
            "more blank lines",
            format!("\n\n{}\n\n\n", outside_strings_and_comments(text, |s| s.replace("\n\n", "\n\n\n\n"))),
        ),
        (
            "blank lines inside brackets",
            outside_strings_and_comments(text, |s| s.replace("{\n", "{\n\n\n").replace("\n}", "\n\n}")),
        ),
        ("CRLF", text.replace('\n', "\r\n")),
    ]
}

#[test]
fn formatting_keeps_meaning_comments_and_is_idempotent() {
    let mut failures = Vec::new();
    let mut formatted = 0;
    for path in corpus() {
        let text = read(&path);
        let name = path.display();
        let out = match format_source(&text) {
            Ok(out) => out,
            Err(FmtError::Syntax { .. }) if has_syntax_errors(&text) => continue,
            Err(e) => {
                failures.push(format!("{name}: {e} {e:?}"));
                continue;
            }
        };
        formatted += 1;
        match format_source(&out) {
            Ok(again) if again == out => {}
            Ok(again) => failures.push(format!("{name}: not idempotent\n--- once\n{out}\n--- twice\n{again}")),
            Err(e) => failures.push(format!("{name}: its formatted text is refused: {e:?}\n{out}")),
        }
        if meaning(&path, &text) != meaning(&path, &out) {
            failures.push(format!("{name}: the meaning changed\n{out}"));
        }
        if comments(&text) != comments(&out) {
            failures.push(format!("{name}: comments changed: {:?} != {:?}", comments(&text), comments(&out)));
        }
        for line in out.lines() {
            if line != line.trim_end() || line.contains('\t') {
                failures.push(format!("{name}: blanks left in {line:?}"));
            }
        }
        if out.contains("\n\n\n") || out.starts_with('\n') || !out.ends_with('\n') || out.ends_with("\n\n") {
            failures.push(format!("{name}: blank lines not normalised:\n{out}"));
        }
    }
    assert!(formatted > 40, "only {formatted} files formatted");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn whitespace_does_not_matter() {
    let mut failures = Vec::new();
    for path in corpus() {
        let text = read(&path);
        let Ok(want) = format_source(&text) else { continue };
        // Both the original and the formatted text, which has wrapped lines of its own.
        for source in [&text, &want] {
            for (how, scrambled) in scrambles(source) {
                match format_source(&scrambled) {
                    Ok(got) if got == want => {}
                    Ok(got) => failures.push(format!("{}, {how}:\n--- want\n{want}\n--- got\n{got}", path.display())),
                    Err(e) => failures.push(format!("{}, {how}: refused: {e:?}\n{scrambled}", path.display())),
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn stdlib_and_examples_are_formatted() {
    let mut files = Vec::new();
    res_files(Path::new("stdlib"), &mut files);
    res_files(Path::new("examples"), &mut files);
    let unformatted: Vec<String> = files
        .iter()
        .filter(|p| format_source(&read(p)).ok().as_deref() != Some(read(p).as_str()))
        .map(|p| p.display().to_string())
        .collect();
    assert!(unformatted.is_empty(), "run `resc fmt` on: {}", unformatted.join(" "));
}

#[test]
fn files_with_syntax_errors_are_refused() {
    let mut files = Vec::new();
    res_files(Path::new("tests/cases/errors"), &mut files);
    let broken: Vec<PathBuf> =
        files.into_iter().filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("syntax_")).collect();
    assert!(broken.len() >= 5);
    for path in broken {
        match format_source(&read(&path)) {
            Err(e @ FmtError::Syntax { .. }) => {
                let code = miette::Diagnostic::code(&e).map(|c| c.to_string());
                assert_eq!(code.as_deref(), Some("resc::fmt::syntax"));
            }
            other => panic!("{}: {other:?}", path.display()),
        }
    }
}

#[test]
fn wrapping_and_comments() {
    let src = "\
block b(a: int) {  // why
    x: conv(a, 3);  relu     // and how
  /* a block
     comment */
    y: conv(a, 3, stride: 2, pad: 1, groups: 4, dilation: 2, bias: false, stride_again_and_again_and_again: 1) // long
}
";
    // The comments of consecutive lines share a column.
    let want = "\
block b(a: int) {         // why
    x: conv(a, 3);  relu  // and how
    /* a block
     comment */
    y: conv(
        a,
        3,
        stride: 2,
        pad: 1,
        groups: 4,
        dilation: 2,
        bias: false,
        stride_again_and_again_and_again: 1,
    )  // long
}
";
    assert_eq!(format_source(src).unwrap(), want);
}

/// A keyword labelling a layer starts a statement; a keyword that continues
/// one (`then`, `shortcut`, the `: b` of a conditional) still indents.
#[test]
fn keyword_labels_start_statements() {
    let src = "\
block b(planes: int) {
    conv1: conv(planes, 3)
      shortcut: [conv(planes, 1), bn]
  then: relu
    x: conv(planes, 3)
    then conv(planes, 1)
}
";
    let want = "\
block b(planes: int) {
    conv1: conv(planes, 3)
    shortcut: [conv(planes, 1), bn]
    then: relu
    x: conv(planes, 3)
        then conv(planes, 1)
}
";
    assert_eq!(format_source(src).unwrap(), want);
}

// ---------------------------------------------------------------- the command line

fn resc(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_resc"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run resc");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), stdin.as_bytes()).unwrap();
    child.wait_with_output().expect("resc output")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const UGLY: &str = "block b( a:int ){\nconv1:conv(a,3);bn1:bn\n}\nmodel m=b(8) on [N,3,8,8]\n";
const PRETTY: &str = "block b(a: int) {\n    conv1: conv(a, 3);  bn1: bn\n}\n\nmodel m = b(8) on [N, 3, 8, 8]\n";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("resc-fmt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn cli_stdin_to_stdout() {
    for args in [&["fmt"][..], &["fmt", "-"]] {
        let o = resc(args, UGLY);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        assert_eq!(text(&o.stdout), PRETTY);
    }
}

#[test]
fn cli_rewrites_files_in_place() {
    let dir = scratch("inplace");
    let ugly = dir.join("ugly.res");
    let pretty = dir.join("pretty.res");
    std::fs::write(&ugly, UGLY).unwrap();
    std::fs::write(&pretty, PRETTY).unwrap();
    let before = std::fs::metadata(&pretty).unwrap().modified().unwrap();
    let o = resc(&["fmt", ugly.to_str().unwrap(), pretty.to_str().unwrap()], "");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(o.stdout.is_empty());
    assert_eq!(read(&ugly), PRETTY);
    assert_eq!(read(&pretty), PRETTY);
    assert_eq!(std::fs::metadata(&pretty).unwrap().modified().unwrap(), before, "unchanged files are not written");
}

#[test]
fn cli_check_names_files_and_writes_nothing() {
    let dir = scratch("check");
    let ugly = dir.join("ugly.res");
    let pretty = dir.join("pretty.res");
    std::fs::write(&ugly, UGLY).unwrap();
    std::fs::write(&pretty, PRETTY).unwrap();
    let o = resc(&["fmt", "--check", ugly.to_str().unwrap(), pretty.to_str().unwrap()], "");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(text(&o.stdout), format!("{}\n", ugly.display()));
    assert_eq!(read(&ugly), UGLY, "--check writes nothing");
    let o = resc(&["fmt", pretty.to_str().unwrap(), "--check"], "");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert!(o.stdout.is_empty());
    let o = resc(&["fmt", "--check"], UGLY);
    assert_eq!((o.status.code(), text(&o.stdout).as_str()), (Some(1), "<stdin>\n"));
    let o = resc(&["fmt", "--check"], PRETTY);
    assert_eq!((o.status.code(), text(&o.stdout).as_str()), (Some(0), ""));
}

#[test]
fn cli_check_on_the_standard_library_and_examples() {
    let mut files = Vec::new();
    res_files(Path::new("stdlib"), &mut files);
    res_files(Path::new("examples"), &mut files);
    let mut args = vec!["fmt", "--check"];
    let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    args.extend(names.iter().map(String::as_str));
    let o = resc(&args, "");
    assert_eq!(o.status.code(), Some(0), "would change:\n{}{}", text(&o.stdout), text(&o.stderr));
}

#[test]
fn cli_syntax_errors_exit_1_with_diagnostics() {
    let dir = scratch("syntax");
    let bad = dir.join("bad.res");
    let source = "block b() {\n    conv1: conv(3,, 1)\n}\n";
    std::fs::write(&bad, source).unwrap();
    let o = resc(&["fmt", bad.to_str().unwrap()], "");
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(err.contains("resc::syntax::unexpected"), "{err}");
    assert!(err.contains("bad.res:2:"), "{err}");
    assert!(err.contains("1 error found"), "{err}");
    assert_eq!(read(&bad), source, "a broken file is left alone");
    let o = resc(&["fmt"], source);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty(), "no output from broken input");
    assert!(text(&o.stderr).contains("<stdin>:2:"), "{}", text(&o.stderr));
}

#[test]
fn cli_unreadable_files_exit_2() {
    let dir = scratch("missing");
    let good = dir.join("good.res");
    std::fs::write(&good, UGLY).unwrap();
    let missing = dir.join("missing.res");
    let o = resc(&["fmt", missing.to_str().unwrap(), good.to_str().unwrap()], "");
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("cannot read"), "{}", text(&o.stderr));
    assert_eq!(read(&good), PRETTY, "the other files are still formatted");
}

#[test]
fn cli_fmt_is_a_subcommand_not_a_file() {
    // `resc FILE` summarises FILE; `resc fmt FILE` must not read `fmt` as that FILE.
    let dir = scratch("dispatch");
    let file = dir.join("m.res");
    std::fs::write(&file, UGLY).unwrap();
    let o = resc(&["fmt", file.to_str().unwrap()], "");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(read(&file), PRETTY);
}
