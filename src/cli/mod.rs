//! Clap definitions and the commands behind them. Arguments are resolved into a library
//! [`callscope::config::Config`] once; the library never sees clap types.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use callscope::config::Config;
use callscope::report::{self, Format};

/// Passive VoIP call-quality analyzer: SIP dialogs, SDP, RTP streams, verdicts.
#[derive(Parser, Debug)]
#[command(name = "callscope", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Analyse pcap/pcapng captures (several files are merged in time order; `-` is stdin).
    Analyze(AnalyzeArgs),
    /// Write synthetic captures with known ground truth (`<name>.pcap` + `<name>.truth.json`).
    Synth(SynthArgs),
    /// Evidence bundle per call: summary, ladder, the call's own pcap, JSON records.
    Call(CallArgs),
    /// Registration status per address-of-record (REGISTER transactions).
    Registrations(RegistrationsArgs),
}

#[derive(clap::Args, Debug)]
struct CallArgs {
    /// `SELECTOR CAPTURE...`: SELECTOR is a Call-ID or a phone number (From/To/PAI, any format);
    /// with --worst or --class every argument is a capture.
    #[arg(required = true, value_name = "SELECTOR CAPTURE")]
    args: Vec<String>,
    /// Directory to write the bundles into (one folder per call).
    #[arg(long)]
    out: PathBuf,
    /// Bundle the N calls with the worst verdicts.
    #[arg(long, value_name = "N")]
    worst: Option<usize>,
    /// Bundle every call whose verdict class is this.
    #[arg(long, value_enum)]
    class: Option<ClassArg>,
    /// Also print local times in this IANA time zone (e.g. Europe/Berlin).
    #[arg(long)]
    tz: Option<String>,
    /// Mask phone numbers (keep last 2 digits) and addresses outside --keep-net in every file.
    #[arg(long)]
    redact: bool,
    /// Under --redact, addresses in this network stay visible (the provider's side); repeatable.
    #[arg(long, value_name = "CIDR")]
    keep_net: Vec<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ClassArg {
    Media,
    Signaling,
    Routing,
}

#[derive(clap::Args, Debug)]
struct RegistrationsArgs {
    /// Capture files (pcap or pcapng).
    #[arg(required = true)]
    captures: Vec<String>,
    /// JSON (`registrations[]` records) instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
struct SynthArgs {
    /// Directory to write into (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Instead of the named scenarios, one busy capture: CALLS,CONCURRENCY,SECONDS
    /// (e.g. `9000,150,600` for ≈1.5 M packets).
    #[arg(long, value_parser = parse_mixed)]
    mixed: Option<(usize, usize, u64)>,
    /// Seed of the busy capture.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn parse_mixed(s: &str) -> Result<(usize, usize, u64), String> {
    let parts: Vec<&str> = s.split(',').collect();
    let [calls, concurrency, seconds] = parts.as_slice() else {
        return Err("expected CALLS,CONCURRENCY,SECONDS".to_owned());
    };
    let num = |x: &str| x.trim().parse::<u64>().map_err(|e| format!("{x}: {e}"));
    let to_usize = |x: u64| usize::try_from(x).map_err(|e| e.to_string());
    Ok((to_usize(num(calls)?)?, to_usize(num(concurrency)?)?, num(seconds)?))
}

#[derive(clap::Args, Debug)]
struct AnalyzeArgs {
    /// Capture files (pcap or pcapng), or `-` for standard input.
    #[arg(required = true)]
    captures: Vec<String>,
    /// Output format (default: table on a terminal, JSON otherwise).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Write here instead of standard output; for CSV a directory gets one file per record kind.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FormatArg {
    Table,
    Json,
    Csv,
}

/// Parses arguments and runs the command.
pub fn run() -> anyhow::Result<ExitCode> {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors; usage errors exit 1 (output-contract.md).
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return Ok(ExitCode::from(code));
        }
    };
    match cli.command {
        Command::Analyze(args) => analyze(&args),
        Command::Synth(args) => synth(&args),
        Command::Call(args) => call(&args),
        Command::Registrations(args) => registrations(&args),
    }
}

fn call(args: &CallArgs) -> anyhow::Result<ExitCode> {
    use callscope::bundle::{self, BundleOptions, Selector};
    use callscope::diagnose::VerdictClass;
    let (selector, captures) = match (args.worst, args.class) {
        (Some(_), Some(_)) => anyhow::bail!("give either --worst or --class, not both"),
        (Some(n), None) => (Selector::Worst(n), &args.args[..]),
        (None, Some(c)) => (
            Selector::Class(match c {
                ClassArg::Media => VerdictClass::Media,
                ClassArg::Signaling => VerdictClass::Signaling,
                ClassArg::Routing => VerdictClass::Routing,
            }),
            &args.args[..],
        ),
        (None, None) => match args.args.split_first() {
            Some((sel, rest)) if !rest.is_empty() => (Selector::CallIdOrNumber(sel.clone()), rest),
            _ => anyhow::bail!(
                "usage: callscope call <CALL-ID|NUMBER> <CAPTURE>... --out DIR (or --worst N / --class C)"
            ),
        },
    };
    let keep_nets = args
        .keep_net
        .iter()
        .map(|c| c.parse().map_err(|e: String| anyhow::anyhow!("--keep-net {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let captures = captures.to_vec();
    let analysis = callscope::pipeline::analyze(&captures, &Config::default())?;
    let doc = report::build(&analysis);
    report_warnings(&doc);
    let selected = bundle::select(&doc, &analysis, &selector);
    if selected.is_empty() {
        eprintln!("callscope: no call matches {selector:?}");
        return Ok(ExitCode::from(2));
    }
    let opts = BundleOptions { out: args.out.clone(), tz: args.tz.clone(), redact: args.redact, keep_nets };
    for dir in bundle::write_bundles(&captures, &analysis, &doc, &selected, &opts)? {
        println!("{}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn registrations(args: &RegistrationsArgs) -> anyhow::Result<ExitCode> {
    let analysis = callscope::pipeline::analyze(&args.captures, &Config::default())?;
    let doc = report::build(&analysis);
    report_warnings(&doc);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.json {
        serde_json::to_writer_pretty(&mut out, &doc.registrations)?;
        writeln!(out)?;
    } else {
        report::registrations::write_table(&doc.registrations, &mut out)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn synth(args: &SynthArgs) -> anyhow::Result<ExitCode> {
    use callscope::synth;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let written = match args.mixed {
        Some((calls, concurrency, seconds)) => {
            let scenario = synth::mixed(calls, concurrency, seconds, args.seed);
            let pcap = args.out.join(format!("{}.pcap", scenario.name));
            let truth = scenario.write_file(&pcap).with_context(|| format!("writing {}", pcap.display()))?;
            let json = args.out.join(format!("{}.truth.json", scenario.name));
            report::create_output_file(&json)
                .and_then(|mut f| f.write_all(&serde_json::to_vec_pretty(&truth)?))
                .with_context(|| format!("writing {}", json.display()))?;
            vec![pcap]
        }
        None => synth::write_all_fixtures(&args.out).with_context(|| format!("writing into {}", args.out.display()))?,
    };
    for path in written {
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn analyze(args: &AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let config = Config::default();
    let analysis = callscope::pipeline::analyze(&args.captures, &config)?;
    let doc = report::build(&analysis);
    report_warnings(&doc);
    let format = match args.format {
        Some(FormatArg::Table) => Format::Table,
        Some(FormatArg::Json) => Format::Json,
        Some(FormatArg::Csv) => Format::Csv,
        None if args.out.is_none() && std::io::stdout().is_terminal() => Format::Table,
        None => Format::Json,
    };
    match (&args.out, format) {
        (Some(dir), Format::Csv) if dir.is_dir() => {
            report::csv::write_dir(&doc, dir).with_context(|| format!("writing CSV files into {}", dir.display()))?
        }
        (Some(path), _) => {
            let file = report::create_output_file(path).with_context(|| format!("creating {}", path.display()))?;
            let mut out = std::io::BufWriter::new(file);
            write_doc(&doc, format, &mut out, path)?;
        }
        (None, _) => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            write_doc(&doc, format, &mut out, Path::new("standard output"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn write_doc(doc: &report::Document, format: Format, out: &mut dyn Write, path: &Path) -> anyhow::Result<()> {
    match format {
        Format::Table => report::table::write(doc, out),
        Format::Json => report::write_json(doc, out),
        Format::Csv => report::csv::write_all(doc, out),
    }
    .and_then(|()| out.flush())
    .with_context(|| format!("writing {}", path.display()))
}

/// One line per input with warnings on stderr; the details are in `inputs[].warnings`.
fn report_warnings(doc: &report::Document) {
    for input in &doc.inputs {
        let total: u64 = input.warning_counts.values().sum();
        if total > 0 {
            let kinds: Vec<String> = input.warning_counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
            eprintln!(
                "callscope: {}: {total} warnings ({}); details in inputs[].warnings",
                input.path,
                kinds.join(", ")
            );
        }
    }
}
