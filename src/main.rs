//! The `resc` command line.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use resc::backend::{dot, ir_text, json, summary};
use resc::driver::{self, Select};
use resc::ir::Graph;
use resc::sema::Program;
use resc::{report, stdlib};

#[derive(Parser)]
#[command(name = "resc", version, about = "Compiler for .res residual-network descriptions")]
#[command(args_conflicts_with_subcommands = true, subcommand_precedence_over_arg = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// A .res file: report its errors, or summarise its models.
    file: Option<PathBuf>,
    #[command(flatten)]
    summary: SummaryArgs,
}

#[derive(clap::Args, Clone)]
struct SummaryArgs {
    /// Only this model (default: every model written in the file).
    #[arg(long, short)]
    model: Option<String>,
    /// Levels of blocks to open in the table (1: the network's own layers).
    #[arg(long, default_value_t = 1)]
    depth: usize,
    /// One JSON object per model instead of a table.
    #[arg(long)]
    json: bool,
    /// Another input size than the model declares: CxHxW, or NxCxHxW.
    #[arg(long, value_parser = parse_dims, value_name = "CxHxW")]
    input: Option<Dims>,
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
}

#[derive(Subcommand)]
enum Cmd {
    /// Shapes, parameters and MACs per layer (the default command).
    Summary {
        file: PathBuf,
        #[command(flatten)]
        args: SummaryArgs,
    },
    /// Report every error in a file, and nothing else.
    Check {
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
        message_format: MessageFormat,
        #[arg(long, value_enum, default_value_t = Color::Auto)]
        color: Color,
    },
    /// List the models in a file or directory (default: the standard library).
    List { path: Option<PathBuf> },
    /// Run a model's inference forward pass on the CPU (reference interpreter).
    Run {
        file: PathBuf,
        #[arg(long, short)]
        model: Option<String>,
        /// Weights as safetensors, named as the reference state_dict.
        #[arg(long, conflicts_with = "random_weights")]
        weights: Option<PathBuf>,
        /// Reproducible random weights instead of a file.
        #[arg(long, value_name = "SEED")]
        random_weights: Option<u64>,
        /// The input as a .npy file of float32, NxCxHxW.
        #[arg(long, conflicts_with = "random_input")]
        input: Option<PathBuf>,
        /// A random input of this shape instead of a file.
        #[arg(long, value_parser = parse_dims, value_name = "NxCxHxW")]
        random_input: Option<Dims>,
        /// Where to write the output (.npy).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Emit a model as IR text or Graphviz.
    Build {
        file: PathBuf,
        #[arg(long, short)]
        model: String,
        #[arg(long, value_enum)]
        emit: Emit,
        /// Output file (default: standard output).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum MessageFormat {
    Human,
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, ValueEnum)]
enum Emit {
    Ir,
    Dot,
    /// Rust source of a burn 0.22 module.
    Burn,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd {
        Some(Cmd::Summary { file, args }) => cmd_summary(&file, &args),
        Some(Cmd::Check { file, message_format, color }) => cmd_check(&file, message_format, color),
        Some(Cmd::List { path }) => cmd_list(path.as_deref()),
        Some(Cmd::Build { file, model, emit, output }) => cmd_build(&file, &model, emit, output.as_deref()),
        Some(Cmd::Run { file, model, weights, random_weights, input, random_input, output }) => cmd_run(RunArgs {
            file,
            model,
            weights,
            random_weights,
            input,
            random_input: random_input.map(|d| d.0),
            output,
        }),
        None => match cli.file {
            Some(file) => cmd_summary(&file, &cli.summary),
            None => {
                eprintln!("usage: resc FILE.res [--model NAME]   (resc --help for more)");
                Err(Failure::Usage)
            }
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Diagnostics) => ExitCode::from(1),
        Err(Failure::Usage) => ExitCode::from(2),
    }
}

enum Failure {
    /// The input has errors; they were printed.
    Diagnostics,
    /// The command could not run (missing file, bad output path).
    Usage,
}

fn use_color(c: Color) -> bool {
    match c {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}

fn load(file: &Path) -> Result<Program, Failure> {
    driver::load(file).map_err(|e| {
        eprintln!("error: cannot read {}: {e}", file.display());
        Failure::Usage
    })
}

fn term_width() -> usize {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).unwrap_or(100)
}

fn compile(prog: &Program, select: Select<'_>, color: Color) -> Result<Vec<Graph>, Failure> {
    driver::compile(prog, select).map_err(|diags| {
        eprint!("{}", report::human(&diags, term_width(), use_color(color)));
        Failure::Diagnostics
    })
}

/// `3x64x64`: a shape given on the command line.
#[derive(Clone, Debug)]
struct Dims(Vec<u64>);

fn parse_dims(s: &str) -> Result<Dims, String> {
    s.split(['x', ','])
        .map(|d| d.trim().parse::<u64>().map_err(|_| format!("`{d}` is not a size; write e.g. 3x64x64")))
        .collect::<Result<_, _>>()
        .map(Dims)
}

fn cmd_summary(file: &Path, args: &SummaryArgs) -> Result<(), Failure> {
    let prog = load(file)?;
    let select = args.model.as_deref().map_or(Select::Root, Select::Named);
    let opts = driver::Options { input: args.input.clone().map(|d| d.0), ..Default::default() };
    let graphs = driver::compile_with(&prog, select, &opts).map_err(|diags| {
        eprint!("{}", report::human(&diags, term_width(), use_color(args.color)));
        if !args.json {
            // What was built before the errors still helps to find them.
            let mut out = String::new();
            for g in driver::partial(&prog, select, &opts) {
                out += &format!("\n(partial: `{}` has errors; these layers were built)\n", g.name);
                out += &summary::emit(&g, &summary::Options { depth: args.depth });
            }
            let _ = write_stdout(&out);
        }
        Failure::Diagnostics
    })?;
    let mut out = String::new();
    if args.json {
        if let [one] = graphs.as_slice() {
            out = json::emit(one);
        } else {
            let all: Vec<_> = graphs.iter().map(json::summary).collect();
            out = serde_json::to_string_pretty(&all).expect("plain data");
        }
        out.push('\n');
    } else {
        if graphs.is_empty() {
            out += &format!("{}: no errors; it defines no model\n", file.display());
        }
        for (i, g) in graphs.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out += &summary::emit(g, &summary::Options { depth: args.depth });
        }
    }
    write_stdout(&out)
}

fn cmd_check(file: &Path, format: MessageFormat, color: Color) -> Result<(), Failure> {
    let prog = load(file)?;
    match driver::compile(&prog, Select::Root) {
        Ok(graphs) => {
            if let MessageFormat::Human = format {
                eprintln!("{}: ok, {} model(s)", file.display(), graphs.len());
            }
            Ok(())
        }
        Err(diags) => {
            match format {
                MessageFormat::Human => {
                    eprint!("{}", report::human(&diags, term_width(), use_color(color)))
                }
                MessageFormat::Json => print!("{}", report::json(&diags)),
            }
            Err(Failure::Diagnostics)
        }
    }
}

fn cmd_list(path: Option<&Path>) -> Result<(), Failure> {
    let mut programs: Vec<(String, Program)> = Vec::new();
    match path {
        None => {
            for name in stdlib::NAMES {
                let text = stdlib::source(name).expect("listed");
                programs
                    .push((stdlib::display_name(name), Program::load_text(&stdlib::display_name(name), None, text)));
            }
        }
        Some(p) if p.is_dir() => {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| {
                    eprintln!("error: cannot read {}: {e}", p.display());
                    Failure::Usage
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "res"))
                .collect();
            files.sort();
            for f in files {
                programs.push((f.display().to_string(), load(&f)?));
            }
        }
        Some(p) => programs.push((p.display().to_string(), load(p)?)),
    }
    let mut out = String::new();
    let mut failed = false;
    for (name, prog) in &programs {
        match driver::compile(prog, Select::Root) {
            Ok(graphs) => {
                for g in graphs {
                    let c = resc::passes::total_counts(&g);
                    out += &format!(
                        "{:<22} {:<20} {:>12} params {:>10} MACs  {}\n",
                        g.name,
                        g.node(g.input).shape.to_string(),
                        resc::backend::group_digits(c.params),
                        resc::backend::short_count(c.macs),
                        name
                    );
                }
            }
            Err(diags) => {
                failed = true;
                eprint!("{}", report::human(&diags, term_width(), use_color(Color::Auto)));
            }
        }
    }
    write_stdout(&out)?;
    if failed { Err(Failure::Diagnostics) } else { Ok(()) }
}

fn cmd_build(file: &Path, model: &str, emit: Emit, output: Option<&Path>) -> Result<(), Failure> {
    let prog = load(file)?;
    let graphs = compile(&prog, Select::Named(model), Color::Auto)?;
    let g = &graphs[0];
    let text = match emit {
        Emit::Ir => ir_text::emit(g, &prog.sources),
        Emit::Dot => dot::emit(g),
        Emit::Burn => match resc::backend::burn::emit(g, &prog.sources) {
            Ok(code) => code,
            Err(e) => {
                let decl = prog.find_model(model).map(|m| prog.model(m).name.span).ok();
                let mut d = resc::diag::Diag::new(e);
                if let Some(span) = decl {
                    d = d.at(span, "this model");
                }
                d.resolve(&prog.sources);
                eprint!("{}", report::human(&[d], term_width(), use_color(Color::Auto)));
                return Err(Failure::Diagnostics);
            }
        },
    };
    match output {
        Some(path) => std::fs::write(path, text).map_err(|e| {
            eprintln!("error: cannot write {}: {e}", path.display());
            Failure::Usage
        }),
        None => write_stdout(&text),
    }
}

struct RunArgs {
    file: PathBuf,
    model: Option<String>,
    weights: Option<PathBuf>,
    random_weights: Option<u64>,
    input: Option<PathBuf>,
    random_input: Option<Vec<u64>>,
    output: Option<PathBuf>,
}

fn fail(message: impl std::fmt::Display) -> Failure {
    eprintln!("error: {message}");
    Failure::Diagnostics
}

fn cmd_run(a: RunArgs) -> Result<(), Failure> {
    use resc::backend::interp::{self, Tensor};
    let prog = load(&a.file)?;
    let (shape, data): (Vec<u64>, Vec<f32>) = match (&a.input, &a.random_input) {
        (Some(path), _) => {
            let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
            let npy = npyz::NpyFile::new(&bytes[..])
                .map_err(|e| fail(format!("{} is not a .npy file: {e}", path.display())))?;
            if npy.order() != npyz::Order::C {
                return Err(fail("the input must be a C-ordered (row-major) array"));
            }
            let shape = npy.shape().to_vec();
            let data = npy.into_vec::<f32>().map_err(|e| fail(format!("the input must be float32: {e}")))?;
            (shape, data)
        }
        (None, Some(dims)) => {
            let dims = if dims.len() == 3 { [&[1], &dims[..]].concat() } else { dims.clone() };
            let n: u64 = dims.iter().product();
            if dims.len() != 4 || n == 0 || n > 1 << 28 {
                return Err(fail("--random-input takes NxCxHxW (or CxHxW), at most 2^28 values"));
            }
            let mut rng = resc::weights::Rng::new(7);
            (dims, (0..n).map(|_| rng.uniform()).collect())
        }
        (None, None) => return Err(fail("give --input FILE.npy or --random-input NxCxHxW")),
    };
    // Build the model at the input's size: shape errors are found here,
    // with the layer and its source, before anything runs. Rank and channels
    // must be the declared ones; the spatial size may differ.
    let select = a.model.as_deref().map_or(Select::Root, Select::Named);
    let declared = driver::compile(&prog, select).map_err(|diags| {
        eprint!("{}", report::human(&diags, term_width(), use_color(Color::Auto)));
        Failure::Diagnostics
    })?;
    if let [g] = declared.as_slice() {
        let want = g.node(g.input).shape.concrete(shape.first().copied().unwrap_or(1));
        if want.len() != shape.len() || want[1] != shape[1] {
            return Err(fail(format!("`{}` takes input {want:?}, the input is {shape:?}", g.name)));
        }
    }
    let opts = driver::Options { input: Some(shape.clone()), ..Default::default() };
    let mut graphs = driver::compile_with(&prog, select, &opts).map_err(|diags| {
        eprint!("{}", report::human(&diags, term_width(), use_color(Color::Auto)));
        Failure::Diagnostics
    })?;
    if graphs.len() != 1 {
        let names: Vec<&str> = graphs.iter().map(|g| g.name.as_str()).collect();
        return Err(fail(format!("the file has several models ({}); choose one with --model", names.join(", "))));
    }
    let g = graphs.remove(0);
    let weights = match (&a.weights, a.random_weights) {
        (Some(path), _) => resc::weights::load_safetensors(path, &g).map_err(|e| {
            let d = resc::diag::Diag::new(e);
            eprint!("{}", report::human(&[d], term_width(), use_color(Color::Auto)));
            Failure::Diagnostics
        })?,
        (None, Some(seed)) => resc::weights::random(&g, seed),
        (None, None) => return Err(fail("give --weights FILE.safetensors or --random-weights SEED")),
    };
    let input = Tensor::new(shape.iter().map(|&d| d as usize).collect(), data);
    let start = std::time::Instant::now();
    let y = interp::run(&g, &weights, &input).map_err(fail)?;
    let elapsed = start.elapsed();
    let mut out = format!(
        "{}: {:?} -> {:?} in {:.1} ms (reference interpreter)\n",
        g.name,
        input.shape,
        y.shape,
        elapsed.as_secs_f64() * 1e3
    );
    if y.shape.len() == 2 {
        let classes = y.shape[1];
        for (s, row) in y.data.chunks(classes).enumerate().take(4) {
            let mut top: Vec<(usize, f32)> = row.iter().copied().enumerate().collect();
            top.sort_by(|a, b| b.1.total_cmp(&a.1));
            let top: Vec<String> = top.iter().take(5).map(|(i, v)| format!("{i}: {v:.4}")).collect();
            out += &format!("  sample {s}: top {}\n", top.join(", "));
        }
    }
    if let Some(path) = &a.output {
        let file = std::fs::File::create(path).map_err(|e| fail(format!("cannot write {}: {e}", path.display())))?;
        let dims: Vec<u64> = y.shape.iter().map(|&d| d as u64).collect();
        use npyz::WriterBuilder;
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&dims)
            .writer(std::io::BufWriter::new(file))
            .begin_nd()
            .map_err(|e| fail(format!("cannot write {}: {e}", path.display())))?;
        w.extend(y.data.iter().copied()).map_err(|e| fail(format!("cannot write {}: {e}", path.display())))?;
        w.finish().map_err(|e| fail(format!("cannot write {}: {e}", path.display())))?;
        out += &format!("  wrote {}\n", path.display());
    }
    write_stdout(&out)
}

fn write_stdout(s: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`resc ... | head`) is not an error worth a panic.
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
    Ok(())
}
