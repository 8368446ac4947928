//! The `resc` command line.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

mod build_cmd;
mod cli;
mod run_cmd;

use cli::failure::{CliError, Failure, could_not_run};

use resc::backend::{json, summary};
use resc::driver::{self, Select};
use resc::ir::Graph;
use resc::sema::Program;
use resc::{report, stdlib};

#[derive(Parser)]
#[command(
    name = "resc",
    version,
    about = "Compiler for .res residual-network descriptions",
    long_about = "Compiler for .res residual-network descriptions.\n\nGive it a file and it reports every error \
                  at once, or summarises each model. A standard-library model needs no file: \
                  `resc summary --model resnet50`.\n\nExit codes: 0 success, 1 the model (or its weights or input) \
                  has errors, 2 the command could not run (unreadable input, unwritable output, bad flags)."
)]
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
    /// Only this model (default: every model written in the file). Without a
    /// file, a standard-library model.
    #[arg(long, short)]
    model: Option<String>,
    /// Levels of blocks to open in the table (1: the network's own layers).
    #[arg(long, default_value_t = 1)]
    depth: usize,
    /// JSON instead of a table: always an array, one object per model, with
    /// the table's rows (down to --depth) under `layers`.
    #[arg(long)]
    json: bool,
    /// Another input size than the model declares: CxHxW, or NxCxHxW.
    #[arg(long, value_parser = parse_dims, value_name = "CxHxW")]
    input: Option<Dims>,
    /// Colour in error reports (auto: when stderr is a terminal and NO_COLOR is unset).
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,
}

#[derive(Subcommand)]
enum Cmd {
    /// Shapes, parameters and MACs per layer (the default command).
    Summary {
        /// The .res file (omit it to name a standard-library model with --model).
        file: Option<PathBuf>,
        #[command(flatten)]
        args: SummaryArgs,
    },
    /// Report every error in a file, and nothing else.
    Check {
        /// The .res file to check.
        file: PathBuf,
        /// human: reports for people, on stderr; json: one object per line on stdout, for editors.
        #[arg(long, value_enum, default_value_t = MessageFormat::Human)]
        message_format: MessageFormat,
        /// Colour in error reports (auto: when stderr is a terminal and NO_COLOR is unset).
        #[arg(long, value_enum, default_value_t = Color::Auto)]
        color: Color,
    },
    /// List the models in a file or directory (default: the standard library).
    List {
        /// A .res file or a directory of them (default: the standard library).
        path: Option<PathBuf>,
    },
    /// A language server for editors, over stdin and stdout.
    Lsp,
    /// Run a model's inference forward pass on the CPU.
    Run(run_cmd::RunArgs),
    /// Rewrite files in the canonical layout (no FILE or `-`: stdin to stdout).
    Fmt {
        /// Files to rewrite in place (none or `-`: standard input to standard output).
        files: Vec<PathBuf>,
        /// Write nothing; name the files that would change and exit 1 if any would.
        #[arg(long)]
        check: bool,
    },
    /// Emit a model as IR text, Graphviz, the Rust source of a burn module, or ONNX.
    Build(build_cmd::BuildArgs),
    /// Shell completions, to standard output.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// The man page (roff), to standard output.
    Man {
        /// Write one page per command (resc.1, resc-run.1, ...) into this directory instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum MessageFormat {
    /// Reports for people, on stderr.
    Human,
    /// One JSON object per line on stdout, for editors and scripts.
    Json,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Color {
    /// When stderr is a terminal and NO_COLOR is unset.
    Auto,
    Always,
    Never,
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let commands: Vec<String> = Cli::command().get_subcommands().map(|c| c.get_name().to_string()).collect();
    if let Some(e) = cli::typo::mistyped_command(&args, &commands) {
        return ExitCode::from(could_not_run(e).exit_code());
    }
    let cli = Cli::parse_from(args);
    let result = match cli.cmd {
        Some(Cmd::Summary { file, args }) => cmd_summary(file.as_deref(), &args),
        Some(Cmd::Check { file, message_format, color }) => cmd_check(&file, message_format, color),
        Some(Cmd::List { path }) => cmd_list(path.as_deref()),
        Some(Cmd::Build(args)) => build_cmd::cmd_build(args),
        Some(Cmd::Run(args)) => run_cmd::cmd_run(args),
        Some(Cmd::Fmt { files, check }) => cmd_fmt(&files, check),
        Some(Cmd::Lsp) => resc::lsp::run_stdio().map_err(|e| {
            eprintln!("resc lsp: {e}");
            Failure::Usage
        }),
        Some(Cmd::Completions { shell }) => cli::docs::completions(shell),
        Some(Cmd::Man { dir }) => cli::docs::man(dir.as_deref()),
        None => match (&cli.file, &cli.summary.model) {
            (None, None) => {
                eprintln!("usage: resc FILE.res [--model NAME]   (resc --help for more)");
                Err(Failure::Usage)
            }
            (file, _) => cmd_summary(file.as_deref(), &cli.summary),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => ExitCode::from(f.exit_code()),
    }
}

fn use_color(c: Color) -> bool {
    match c {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}

fn load(file: &Path) -> Result<Program, Failure> {
    cli::model_source::load_path(file)
}

fn term_width() -> usize {
    std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).unwrap_or(100)
}

fn compile(prog: &Program, select: Select<'_>, color: Color) -> Result<Vec<Graph>, Failure> {
    driver::compile(prog, select).map_err(|diags| report_diags(&diags, color))
}

/// Prints diagnostics about the model (exit 1).
fn report_diags(diags: &[resc::diag::Diag], color: Color) -> Failure {
    eprint!("{}", report::human(diags, term_width(), use_color(color)));
    Failure::Diagnostics
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

fn cmd_summary(file: Option<&Path>, args: &SummaryArgs) -> Result<(), Failure> {
    let prog = cli::model_source::load(file, args.model.as_deref())?;
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
        out = json::emit_all(&graphs, args.depth);
        out.push('\n');
    } else {
        if graphs.is_empty() {
            out += &format!("{}: no errors; it defines no model\n", prog.sources.get(prog.root).name);
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
            // `stdlib/NAME.res` works as a file argument from any directory.
            for (module, prog) in cli::model_source::stdlib_programs() {
                programs.push((stdlib::display_name(module), prog));
            }
        }
        Some(p) if p.is_dir() => {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| could_not_run(CliError::unreadable(p, e)))?
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

/// The one model a command works on: the file's only model, or an error
/// asking for --model.
fn only_model(prog: &Program, mut graphs: Vec<Graph>) -> Result<Graph, Failure> {
    let file = prog.sources.get(prog.root).name.clone();
    match graphs.len() {
        1 => Ok(graphs.remove(0)),
        0 => Err(could_not_run(CliError::NoModel { file })),
        _ => {
            let names: Vec<&str> = graphs.iter().map(|g| g.name.as_str()).collect();
            Err(could_not_run(CliError::SeveralModels { file, names: names.join(", ") }))
        }
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
        worst = Failure::worst(worst, fmt_file(file, check));
    }
    worst
}

fn fmt_stdin(check: bool) -> Result<(), Failure> {
    let mut text = String::new();
    if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut text) {
        return Err(could_not_run(CliError::unreadable(Path::new("standard input"), e)));
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
    let text = std::fs::read_to_string(file).map_err(|e| could_not_run(CliError::unreadable(file, e)))?;
    let formatted = format_or_report(&file.display().to_string(), &text)?;
    if formatted == text {
        return Ok(());
    }
    if check {
        println!("{}", file.display());
        return Err(Failure::Diagnostics);
    }
    std::fs::write(file, formatted).map_err(|e| could_not_run(CliError::unwritable(file, e)))
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

fn write_stdout(s: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`resc ... | head`) is not an error worth a panic.
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
    Ok(())
}
