//! Front-end benchmark: parse, sema + lowering + shape inference, and the
//! whole `resc summary` process, over the standard library.
//!
//! Run with `cargo bench --bench frontend`. Phases print their time and rate;
//! the resnet152 summary process is compared with a baseline measured in the
//! same run (starting the same binary for `--version`) and with the 50 ms
//! budget.

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use resc::backend::{json, summary};
use resc::driver::{self, Select};
use resc::sema::Program;
use resc::stdlib;
use resc::syntax;

/// Median of `runs` timings of `f`, after a warm-up.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    for _ in 0..3 {
        f();
    }
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let sources: Vec<(&str, &str)> = stdlib::NAMES.iter().map(|n| (*n, stdlib::source(n).unwrap())).collect();
    let bytes: usize = sources.iter().map(|s| s.1.len()).sum();

    let parse = median(200, || {
        for (_, s) in &sources {
            black_box(syntax::parse_file(Default::default(), s));
        }
    });
    let progs: Vec<Program> =
        sources.iter().map(|(n, s)| Program::load_text(&stdlib::display_name(n), None, s)).collect();
    let mut layers = 0;
    let build = median(30, || {
        layers = 0;
        for p in &progs {
            let graphs = driver::compile(p, Select::Root).expect("stdlib compiles");
            layers += graphs.iter().map(|g| g.order.len()).sum::<usize>();
            black_box(graphs);
        }
    });
    let emit = {
        let graphs: Vec<_> = progs.iter().flat_map(|p| driver::compile(p, Select::Root).unwrap()).collect();
        median(30, || {
            for g in &graphs {
                black_box(summary::emit(g, &summary::Options::default()));
                black_box(json::emit(g));
            }
        })
    };
    println!("standard library: {} files, {bytes} bytes, {layers} IR nodes", sources.len());
    println!(
        "  parse                         {:>9.3} ms  ({:.1} MB/s)",
        ms(parse),
        bytes as f64 / parse.as_secs_f64() / 1e6
    );
    println!(
        "  sema + lowering + shapes      {:>9.3} ms  ({:.0} ns per IR node)",
        ms(build),
        build.as_nanos() as f64 / layers as f64
    );
    println!("  summary + JSON emit           {:>9.3} ms", ms(emit));

    let exe = env!("CARGO_BIN_EXE_resc");
    let spawn = median(20, || {
        let o = Command::new(exe).arg("--version").output().expect("run resc");
        assert!(o.status.success());
    });
    let whole = median(20, || {
        let o = Command::new(exe)
            .args(["summary", "stdlib/resnet.res", "--model", "resnet152", "--json"])
            .output()
            .expect("run resc");
        assert!(o.status.success());
    });
    println!("process `resc summary stdlib/resnet.res --model resnet152 --json`");
    println!("  resc --version (baseline)     {:>9.3} ms", ms(spawn));
    println!(
        "  summary resnet152             {:>9.3} ms  ({:.1}x baseline, {:.2} of the 50 ms budget)",
        ms(whole),
        ms(whole) / ms(spawn),
        ms(whole) / 50.0
    );
}
