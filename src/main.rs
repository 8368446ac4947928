//! The `resc` command line.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod run_cmd;

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
    /// A language server for editors, over stdin and stdout.
    Lsp,
    /// Run a model's inference forward pass on the CPU.
    Run(run_cmd::RunArgs),
    /// Rewrite files in the canonical layout (no FILE or `-`: stdin to stdout).
    Fmt {
        files: Vec<PathBuf>,
        /// Write nothing; name the files that would change and exit 1 if any would.
        #[arg(long)]
        check: bool,
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
        Some(Cmd::Run(args)) => run_cmd::cmd_run(args),
        Some(Cmd::Fmt { files, check }) => cmd_fmt(&files, check),
        Some(Cmd::Lsp) => resc::lsp::run_stdio().map_err(|e| {
            eprintln!("resc lsp: {e}");
            Failure::Usage
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
                MessageFormat::Json => print!("{}", report::json(&diags, &prog.sources)),
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

/// Formats each file (or stdin). Syntax errors give exit 1 and unreadable or
/// unwritable files exit 2, after the other files are done.
fn cmd_fmt(files: &[PathBuf], check: bool) -> Result<(), Failure> {
    let stdin_only = files.is_empty() || files.iter().all(|f| f.as_os_str() == "-");
    if stdin_only {
        return fmt_stdin(check);
    }
    let mut worst: Result<(), Failure> = Ok(());
    for file in files {
        let result = fmt_file(file, check);
        worst = match (worst, result) {
            (Err(Failure::Usage), _) | (_, Err(Failure::Usage)) => Err(Failure::Usage),
            (Err(f), _) | (_, Err(f)) => Err(f),
            (Ok(()), Ok(())) => Ok(()),
        };
    }
    worst
}

fn fmt_stdin(check: bool) -> Result<(), Failure> {
    let mut text = String::new();
    if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut text) {
        eprintln!("error: cannot read standard input: {e}");
        return Err(Failure::Usage);
    }
    let formatted = format_or_report("<stdin>", &text)?;
    if check {
        if formatted != text {
            println!("<stdin>");
            return Err(Failure::Diagnostics);
        }
        return Ok(());
    }
    write_stdout(&formatted)
}

fn fmt_file(file: &Path, check: bool) -> Result<(), Failure> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        eprintln!("error: cannot read {}: {e}", file.display());
        Failure::Usage
    })?;
    let formatted = format_or_report(&file.display().to_string(), &text)?;
    if formatted == text {
        return Ok(());
    }
    if check {
        println!("{}", file.display());
        return Err(Failure::Diagnostics);
    }
    std::fs::write(file, formatted).map_err(|e| {
        eprintln!("error: cannot write {}: {e}", file.display());
        Failure::Usage
    })
}

fn format_or_report(name: &str, text: &str) -> Result<String, Failure> {
    resc::fmt::format_named(name, text).map_err(|e| {
        match e {
            resc::fmt::FmtError::Syntax { diags } => {
                eprint!("{}", report::human(&diags, term_width(), use_color(Color::Auto)));
            }
            other => {
                let d = resc::diag::Diag::new(other);
                eprint!("{}", report::human(&[d], term_width(), use_color(Color::Auto)));
            }
        }
        Failure::Diagnostics
    })
}

fn fail(message: impl std::fmt::Display) -> Failure {
    eprintln!("error: {message}");
    Failure::Diagnostics
}

fn write_stdout(s: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`resc ... | head`) is not an error worth a panic.
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
    Ok(())
}
