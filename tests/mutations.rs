//! A mutation run over the project's own `.res` files: truncations, junk,
//! extreme numbers, deep nesting, long expressions, swapped and dropped lines,
//! random text. Every case must end in success or coded diagnostics, through
//! the whole front end, both renderings and the formatter: never a panic, a
//! stack overflow or a hang. Deterministic: the same cases every run.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use resc::driver::{self, Select};
use resc::report;
use resc::sema::Program;

/// splitmix64: a small, well-mixed generator, the same on every machine.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

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

/// The first model of a file only: each construct is still there, at a
/// fraction of the time (the large models add nodes, not paths).
fn first_model_only(text: &str) -> String {
    let mut seen = false;
    text.lines()
        .filter(|l| {
            let keep = !(l.starts_with("model ") && seen);
            seen |= l.starts_with("model ");
            keep
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

fn char_floor(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

const EXTREMES: &[&str] = &[
    "0",
    "-1",
    "1000000000",
    "2147483648",
    "9223372036854775807",
    "99999999999999999999",
    "-9223372036854775808",
    "1e308",
    "0.0",
    "-0.5",
    "nan",
];
const JUNK: &[&str] = &[
    "{", "}", "(", ")", "[", "]", ";", ":", ",", "\"", "/*", "//", "*", "..", "?", "then", "residual", "shortcut",
    "from", "in", "é", "\u{0}", "\t", "🦀", "\\", "@", "model", "block", "use", "let x =",
];

fn mutate(text: &str, rng: &mut Mix) -> String {
    let at = char_floor(text, rng.below(text.len() + 1));
    let lines: Vec<&str> = text.lines().collect();
    match rng.below(9) {
        // Truncated.
        0 => text[..at].to_string(),
        // Junk inserted.
        1 => format!("{}{}{}", &text[..at], JUNK[rng.below(JUNK.len())], &text[at..]),
        // A number replaced by an extreme one.
        2 => {
            let digits: Vec<usize> = text.match_indices(|c: char| c.is_ascii_digit()).map(|(i, _)| i).collect();
            if digits.is_empty() {
                return text.to_string();
            }
            let i = digits[rng.below(digits.len())];
            let end = text[i..].find(|c: char| !c.is_ascii_digit()).map_or(text.len(), |e| i + e);
            format!("{}{}{}", &text[..i], EXTREMES[rng.below(EXTREMES.len())], &text[end..])
        }
        // Deep nesting around a point.
        3 => {
            let n = 1 + rng.below(3000);
            format!("{}{}1{}{}", &text[..at], "(".repeat(n), ")".repeat(n), &text[at..])
        }
        // A long expression.
        4 => {
            let n = 1 + rng.below(5000);
            format!("{}{}{}", &text[..at], vec!["1"; n].join(" * "), &text[at..])
        }
        // Lines dropped, duplicated or swapped.
        5 if lines.len() > 1 => {
            let (a, b) = (rng.below(lines.len()), rng.below(lines.len()));
            let mut l: Vec<&str> = lines.clone();
            match rng.below(3) {
                0 => {
                    l.remove(a);
                }
                1 => l.insert(a, lines[b]),
                _ => l.swap(a, b),
            }
            l.join("\n")
        }
        // A stretch replaced by random printable text.
        6 => {
            let end = char_floor(text, at + rng.below(40));
            let junk: String = (0..rng.below(40)).map(|_| (b' ' + rng.below(95) as u8) as char).collect();
            format!("{}{junk}{}", &text[..at], &text[end..])
        }
        // A single character deleted.
        7 if at < text.len() => {
            let next = char_floor(text, at + 1).max(at + text[at..].chars().next().map_or(1, char::len_utf8));
            format!("{}{}", &text[..at], &text[next.min(text.len())..])
        }
        // Random text only.
        _ => (0..rng.below(300)).map(|_| (b' ' + rng.below(95) as u8) as char).collect(),
    }
}

#[test]
fn thousands_of_mutants_end_in_success_or_coded_diagnostics() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["stdlib", "examples", "tests/cases", "tests/fixtures"] {
        res_files(&root.join(dir), &mut files);
    }
    let sources: Vec<String> = files.iter().map(|f| first_model_only(&std::fs::read_to_string(f).unwrap())).collect();
    // `RESC_MUTANTS=N RESC_SEED=S` runs a longer or another campaign by hand.
    let total: usize = std::env::var("RESC_MUTANTS").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    let seed: u64 = std::env::var("RESC_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x5eed);
    let mut rng = Mix(seed);
    let per_file = total / sources.len() + 1;
    let (mut ok, mut refused, mut slowest) = (0, 0, Duration::ZERO);
    for text in &sources {
        for _ in 0..per_file {
            // Mutations compound: a mutant of a mutant, now and then.
            let mut m = mutate(text, &mut rng);
            if rng.below(4) == 0 {
                m = mutate(&m, &mut rng);
            }
            let t = Instant::now();
            let prog = Program::load_text("mutant.res", None, &m);
            match driver::compile(&prog, Select::Root) {
                Ok(_) => ok += 1,
                Err(diags) => {
                    refused += 1;
                    assert!(!diags.is_empty());
                    for d in &diags {
                        assert!(d.code().is_some_and(|c| c.starts_with("resc::")), "uncoded: {d}\n--- input\n{m}");
                    }
                    let _ = report::human(&diags, 100, false);
                    let _ = report::json(&diags, &prog.sources);
                }
            }
            let _ = resc::fmt::format_source(&m);
            let took = t.elapsed();
            slowest = slowest.max(took);
            assert!(took < Duration::from_secs(10), "a mutant took {took:?}:\n{m}");
        }
    }
    assert!(ok + refused >= total, "{ok} + {refused}");
    // Both outcomes occur: the mutations are neither all fatal nor all harmless.
    assert!(ok > 100 && refused > 1000, "{ok} built, {refused} refused");
    eprintln!("{} mutants: {ok} built, {refused} refused with coded diagnostics; slowest {slowest:?}", ok + refused);
}
