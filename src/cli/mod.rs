//! Clap definitions and the commands behind them. Arguments are resolved into a library
//! [`callscope::config::Config`] once; the library never sees clap types.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use callscope::config::Config;
use callscope::report::{self, Format};
use callscope::sites::{SiteMap, SiteOptions, SiteReport};

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
    /// Analyse captures and write a self-contained HTML report (index.html with inline charts),
    /// plus report.json, PNG/SVG charts and, when built with the `polars` feature, Parquet files.
    Report(ReportArgs),
    /// Write synthetic captures with known ground truth (`<name>.pcap` + `<name>.truth.json`).
    Synth(SynthArgs),
    /// Evidence bundle per call: summary, ladder, the call's own pcap, JSON records.
    Call(CallArgs),
    /// Registration status per address-of-record (REGISTER transactions).
    Registrations(RegistrationsArgs),
    /// Configuration file helpers.
    Config(ConfigArgs),
    /// Validation gate: evaluate pilot/cutover success criteria (TOML) on captures; exit 0 when
    /// every criterion is met, 2 when any is not, 1 on a usage or input error.
    Check(CheckArgs),
    /// Capture on an interface (mirror/SPAN port): finished calls appended as JSON lines every
    /// interval, a refreshing summary, libpcap drop counters (needs root or CAP_NET_RAW).
    #[cfg(feature = "live")]
    Live(LiveArgs),
}

#[derive(clap::Args, Debug)]
struct CheckArgs {
    /// Capture files (pcap or pcapng), or `-` for standard input.
    #[arg(required = true)]
    captures: Vec<String>,
    /// Criteria file (TOML, output-contract.md "Criteria"; example: fixtures/criteria.toml).
    #[arg(long)]
    criteria: PathBuf,
    /// JSON of an earlier `analyze --format json` or `check --format json` run, for the
    /// `regression_<metric>` criteria.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Diagnosis thresholds (TOML; `callscope config --default` prints every key).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Output format (default: table on a terminal, JSON otherwise).
    #[arg(long, value_enum)]
    format: Option<CheckFormatArg>,
    /// Write here instead of standard output.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    site: SiteFlags,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum CheckFormatArg {
    Table,
    Json,
}

#[cfg(feature = "live")]
#[derive(clap::Args, Debug)]
struct LiveArgs {
    /// Interface to capture on.
    #[arg(short = 'i', long = "interface")]
    interface: String,
    /// BPF capture filter (libpcap syntax), e.g. "udp or tcp port 5060".
    #[arg(long)]
    bpf: Option<String>,
    /// Bytes kept per packet.
    #[arg(long, default_value_t = 65535, value_parser = clap::value_parser!(i32).range(64..=262144))]
    snaplen: i32,
    /// Kernel capture buffer, MiB (raise it when intervals report drops).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(i32).range(1..=2047))]
    buffer_mb: i32,
    /// How often finished calls are written and the counters read (`10s`, `500ms`, `1m`).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    interval: std::time::Duration,
    /// Output folder: calls.jsonl, streams.jsonl, sites.jsonl, intervals.jsonl, registrations.jsonl.
    #[arg(long, default_value = "callscope-live")]
    out: PathBuf,
    /// Also keep rotating capture files (`live-NNNNN.pcap`) in this folder, for evidence bundles.
    #[arg(long, value_name = "DIR")]
    write_pcap: Option<PathBuf>,
    /// Start a new capture file after this many MiB.
    #[arg(long, default_value_t = 100)]
    rotate_mb: u64,
    /// Start a new capture file after this long.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    rotate_every: std::time::Duration,
    /// Keep at most this many capture files in the --write-pcap folder (the oldest are deleted).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..))]
    pcap_keep_files: u64,
    /// Keep at most this many MiB of capture files in total (the oldest are deleted; 0: only
    /// --pcap-keep-files bounds them).
    #[arg(long, default_value_t = 4096)]
    pcap_keep_mb: u64,
    /// Stop by itself after this long (default: until SIGINT/SIGTERM).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<std::time::Duration>,
    /// Late media and BYE/200 retransmissions still join a finished call for this long.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    grace: std::time::Duration,
    /// A call whose signalling never ended leaves after this long without SIP (and media idle).
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    call_idle: std::time::Duration,
    /// A stream of no call (or an idle one) leaves after this long without packets.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    stream_idle: std::time::Duration,
    /// No summary (neither the terminal view nor the per-interval line on stderr).
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    site: SiteFlags,
    /// Diagnosis thresholds (TOML; `callscope config --default` prints every key).
    #[arg(long)]
    config: Option<PathBuf>,
}

/// The default configuration with the `--config` file applied, if one is given.
fn config_from(path: Option<&Path>) -> anyhow::Result<Config> {
    let mut config = Config::default();
    if let Some(path) = path {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        config.apply_file(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    Ok(config)
}

/// The `--sites` map, or the empty map (every address is site `unknown`).
fn site_map(flags: &SiteFlags) -> anyhow::Result<SiteMap> {
    match &flags.sites {
        Some(path) => Ok(SiteMap::load(path)?),
        None => Ok(SiteMap::default()),
    }
}

/// `10s`, `500ms`, `2m`, `1h`, or a bare number of seconds.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = s.find(|c: char| c.is_ascii_alphabetic()).map_or((s, "s"), |i| s.split_at(i));
    let v: f64 = num.trim().parse().map_err(|e| format!("{s}: {e}"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        _ => return Err(format!("{s}: unit must be ms, s, m or h")),
    };
    if !(secs.is_finite() && secs > 0.0 && secs <= 31_536_000.0) {
        return Err(format!("{s}: must be positive and at most a year"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[derive(clap::Args, Debug)]
struct ConfigArgs {
    /// Print the default configuration (TOML, with comments) to standard output.
    #[arg(long)]
    default: bool,
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
    /// Instead of the named scenarios, the three-site capture (`three_sites.pcap`, its truth and
    /// its site map `sites.toml`) that the sites tests and the report demo use.
    #[arg(long, conflicts_with = "mixed")]
    three_sites: bool,
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
    /// Write here instead of standard output; for CSV a directory gets one file per record kind;
    /// Parquet needs a directory.
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    site: SiteFlags,
    /// Diagnosis thresholds (TOML; `callscope config --default` prints every key).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Length of the per-stream quality windows in seconds (`streams[].windows`).
    #[arg(long, default_value_t = callscope::quality::stream::DEFAULT_WINDOW_S, value_parser = parse_window_s)]
    window_s: f64,
    /// With CSV output: also write the quality windows (`windows.csv` in the `--out`
    /// directory, else a `# windows` table after the others).
    #[arg(long)]
    windows: bool,
    /// Threads in all (default: the available cores): the reading thread, which decodes and
    /// runs SIP/SDP in order, and N−1 RTP workers, over which flows are sharded by 5-tuple.
    /// The output does not depend on this number.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: Option<u16>,
    /// Write each call as soon as it is over, as JSON lines into this folder (calls.jsonl,
    /// streams.jsonl, sites.jsonl, intervals.jsonl, registrations.jsonl, inputs.jsonl: the
    /// layout of `callscope live`), instead of one document at the end: memory follows the
    /// calls in progress, not the length of the capture. One thread; rules across calls (B2BUA
    /// legs, misdirected media) see only the calls in progress together.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["format", "out", "windows", "threads"])]
    jsonl: Option<PathBuf>,
    /// With --jsonl: capture time between two writes of finished calls (`10s`, `1m`, ...).
    #[arg(long, default_value = "10s", value_parser = parse_duration, requires = "jsonl")]
    jsonl_interval: std::time::Duration,
}

/// Threads when `--threads` is not given: the available cores.
fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

fn parse_window_s(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Ok(v),
        Ok(_) => Err("window length must be in (0, 86400] seconds".to_owned()),
        Err(e) => Err(format!("{s}: {e}")),
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum FormatArg {
    Table,
    Json,
    Csv,
    /// calls/streams/windows/sites.parquet in the `--out` directory (needs the `polars` feature).
    Parquet,
}

/// Flags the analysing commands share: site map, time buckets, progress.
#[derive(clap::Args, Debug)]
struct SiteFlags {
    /// Site map (TOML, output-contract.md); without it every address is site `unknown`.
    #[arg(long)]
    sites: Option<PathBuf>,
    /// Width of the time buckets of the site-pair time view, minutes.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..=1440))]
    bucket_minutes: u32,
    /// Never show the progress bar (it is shown on stderr only when stderr is a terminal).
    #[arg(long)]
    no_progress: bool,
}

#[derive(clap::Args, Debug)]
struct ReportArgs {
    /// Capture files (pcap or pcapng), or `-` for standard input.
    #[arg(required = true)]
    captures: Vec<String>,
    /// Directory to write into (created if missing).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    site: SiteFlags,
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
        Command::Report(args) => report_cmd(&args),
        Command::Synth(args) => synth(&args),
        Command::Call(args) => call(&args),
        Command::Registrations(args) => registrations(&args),
        Command::Config(args) => config_cmd(&args),
        Command::Check(args) => check_cmd(&args),
        #[cfg(feature = "live")]
        Command::Live(args) => live(&args),
    }
}

#[cfg(feature = "live")]
fn live(args: &LiveArgs) -> anyhow::Result<ExitCode> {
    use callscope::live::capture::{run, LiveOptions};
    use callscope::pipeline::IncrementalLimits;
    let config = config_from(args.config.as_deref())?;
    let sites = site_map(&args.site)?;
    let ns = |d: std::time::Duration| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    let opts = LiveOptions {
        interface: args.interface.clone(),
        bpf: args.bpf.clone(),
        snaplen: args.snaplen,
        buffer_mb: args.buffer_mb,
        interval: args.interval,
        out: args.out.clone(),
        write_pcap: args.write_pcap.clone(),
        rotate_bytes: args.rotate_mb.saturating_mul(1 << 20),
        rotate_every: args.rotate_every,
        keep_files: usize::try_from(args.pcap_keep_files).unwrap_or(usize::MAX),
        keep_bytes: args.pcap_keep_mb.saturating_mul(1 << 20),
        duration: args.duration,
        view: !args.quiet,
        limits: IncrementalLimits {
            grace_ns: ns(args.grace),
            failure_retry_ns: IncrementalLimits::default().failure_retry_ns,
            call_idle_ns: ns(args.call_idle),
            stream_idle_ns: ns(args.stream_idle),
        },
        sites,
        bucket_minutes: args.site.bucket_minutes,
    };
    match run(&opts, &config) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("callscope live: {e:#}");
            Ok(ExitCode::from(2))
        }
    }
}

/// `callscope check`: criteria, baseline, config and site map are read before the captures, so
/// a bad file stops the run at once (exit 1, the message names the line).
fn check_cmd(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    use callscope::check;
    let criteria = check::Criteria::load(&args.criteria)?;
    let baseline = args.baseline.as_deref().map(check::Baseline::load).transpose()?;
    if baseline.is_none() && criteria.needs_baseline() {
        eprintln!("callscope check: regression_* criteria without --baseline are reported as insufficient");
    }
    let config = config_from(args.config.as_deref())?;
    let map = site_map(&args.site)?;
    let (mut doc, _) = analyse_with_sites(&args.captures, &args.site, &config, default_threads())?;
    report_warnings(&doc.inputs);
    let inputs = check::CheckInputs {
        map: &map,
        criteria: &criteria,
        baseline: baseline.as_ref(),
        diag: &config.diagnosis,
        opts: SiteOptions { bucket_minutes: args.site.bucket_minutes },
    };
    let result = check::evaluate(&mut doc, &inputs);
    let json = match args.format {
        Some(CheckFormatArg::Json) => true,
        Some(CheckFormatArg::Table) => false,
        None => args.out.is_some() || !std::io::stdout().is_terminal(),
    };
    let write = |out: &mut dyn Write| {
        if json { check::write_json(&result, out) } else { check::table::write(&result, out) }
            .and_then(|()| out.flush())
    };
    match &args.out {
        Some(path) => {
            let file = report::create_output_file(path).with_context(|| format!("creating {}", path.display()))?;
            write(&mut std::io::BufWriter::new(file)).with_context(|| format!("writing {}", path.display()))?;
        }
        None => write(&mut std::io::BufWriter::new(std::io::stdout().lock())).context("writing standard output")?,
    }
    Ok(ExitCode::from(result.exit_code()))
}

fn config_cmd(args: &ConfigArgs) -> anyhow::Result<ExitCode> {
    if args.default {
        print!("{}{}", callscope::diagnose::DEFAULT_TOML, callscope::config::LIMITS_DEFAULT_TOML);
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!("callscope config: nothing to do (try --default)");
    Ok(ExitCode::from(1))
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
    let config = Config::default();
    let analysis = callscope::pipeline::analyze(&captures, &config)?;
    let doc = report::build(&analysis);
    report_warnings(&doc.inputs);
    let selected = bundle::select(&doc, &analysis, &selector);
    if selected.is_empty() {
        eprintln!("callscope: no call matches {selector:?}");
        return Ok(ExitCode::from(2));
    }
    let opts = BundleOptions {
        out: args.out.clone(),
        tz: args.tz.clone(),
        redact: args.redact,
        keep_nets,
        limits: config.limits.bundle,
        decode_limits: config.limits.decode.clone(),
    };
    for dir in bundle::write_bundles(&captures, &analysis, &doc, &selected, &opts)? {
        println!("{}", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn registrations(args: &RegistrationsArgs) -> anyhow::Result<ExitCode> {
    let analysis = callscope::pipeline::analyze(&args.captures, &Config::default())?;
    let doc = report::build(&analysis);
    report_warnings(&doc.inputs);
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
        None if args.three_sites => {
            let scenario = synth::sites::three_sites();
            let pcap = args.out.join("three_sites.pcap");
            let truth = scenario.write_file(&pcap).with_context(|| format!("writing {}", pcap.display()))?;
            let json = args.out.join("three_sites.truth.json");
            report::create_output_file(&json)
                .and_then(|mut f| f.write_all(&serde_json::to_vec_pretty(&truth).unwrap_or_default()))
                .with_context(|| format!("writing {}", json.display()))?;
            let map = args.out.join("sites.toml");
            report::create_output_file(&map)
                .and_then(|mut f| f.write_all(synth::sites::THREE_SITES_TOML.as_bytes()))
                .with_context(|| format!("writing {}", map.display()))?;
            vec![pcap, map]
        }
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

/// Runs the pipeline (with a progress bar on a terminal), builds the records and the site view.
/// The analysis behind the records is not freed: call it once per process.
fn analyse_with_sites(
    captures: &[String],
    flags: &SiteFlags,
    config: &Config,
    threads: usize,
) -> anyhow::Result<(report::Document, SiteReport)> {
    // The map is read before the captures: a bad map is a usage error (exit 1) found at once.
    let map = site_map(flags)?;
    let show = !flags.no_progress && std::io::stderr().is_terminal() && !captures.iter().any(|c| c == "-");
    let analysis = if show {
        let total: u64 = captures.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
        let bar = progress_bar(total);
        let started = std::time::Instant::now();
        let result = callscope::pipeline::analyze_threaded(captures, config, threads, &mut |p| {
            bar.set_position(p.bytes.min(total));
            let secs = started.elapsed().as_secs_f64().max(1e-3);
            bar.set_message(format!("{} packets, {:.0} packets/s", p.frames, p.frames as f64 / secs));
        });
        bar.finish_and_clear();
        result?
    } else {
        callscope::pipeline::analyze_threaded(captures, config, threads, &mut |_| {})?
    };
    // With a map the diagnosis expects each site's own DSCP (diagnosis.md §4.3 "per site").
    let mut doc = report::build_threaded(&analysis, (!map.sites.is_empty()).then_some(&map), threads);
    // Left to the process's exit (every command analyses once, then writes and ends): freeing
    // each dialog, stream and message list took 2 ms on the bench capture, 10 ms with 3200 calls.
    std::mem::forget(analysis);
    let sites = callscope::sites::attach_with(
        &mut doc,
        &map,
        &SiteOptions { bucket_minutes: flags.bucket_minutes },
        &config.diagnosis,
    );
    Ok((doc, sites))
}

/// An indicatif bar on stderr: bytes, rate, ETA, and packets/s in the message.
fn progress_bar(total_bytes: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(Some(total_bytes), indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}")
    {
        bar.set_style(style);
    }
    bar
}

fn report_cmd(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let (doc, sites) = analyse_with_sites(&args.captures, &args.site, &Config::default(), default_threads())?;
    report_warnings(&doc.inputs);
    let written = report::html::write_report(&doc, &sites, &args.out)
        .with_context(|| format!("writing the report into {}", args.out.display()))?;
    for path in written {
        println!("{}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn analyze(args: &AnalyzeArgs) -> anyhow::Result<ExitCode> {
    let mut config = config_from(args.config.as_deref())?;
    config.window_s = args.window_s;
    if let Some(dir) = &args.jsonl {
        return analyze_jsonl(args, &config, dir);
    }
    let threads = args.threads.map_or_else(default_threads, usize::from);
    let (doc, sites) = analyse_with_sites(&args.captures, &args.site, &config, threads)?;
    report_warnings(&doc.inputs);
    let format = match args.format {
        Some(FormatArg::Table) => Format::Table,
        Some(FormatArg::Json) => Format::Json,
        Some(FormatArg::Csv) => Format::Csv,
        Some(FormatArg::Parquet) => {
            let dir = args.out.as_deref().context("--format parquet needs --out DIR")?;
            write_parquet(&doc, &sites, dir)?;
            return Ok(ExitCode::SUCCESS);
        }
        None if args.out.is_none() && std::io::stdout().is_terminal() => Format::Table,
        None => Format::Json,
    };
    match (&args.out, format) {
        (Some(dir), Format::Csv) if dir.is_dir() => {
            report::csv::write_dir(&doc, dir).with_context(|| format!("writing CSV files into {}", dir.display()))?;
            if args.windows {
                report::csv::write_windows_file(&doc, dir)
                    .with_context(|| format!("writing windows.csv into {}", dir.display()))?;
            }
        }
        (Some(path), _) => {
            let file = report::create_output_file(path).with_context(|| format!("creating {}", path.display()))?;
            let mut out = std::io::BufWriter::new(file);
            write_doc(&doc, format, threads, &mut out, path)?;
            write_windows_table(&doc, format, args.windows, &mut out, path)?;
        }
        (None, _) => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            write_doc(&doc, format, threads, &mut out, Path::new("standard output"))?;
            write_windows_table(&doc, format, args.windows, &mut out, Path::new("standard output"))?;
        }
    }
    // Left to the process's exit, as the analysis (see `analyse_with_sites`).
    std::mem::forget((doc, sites));
    Ok(ExitCode::SUCCESS)
}

/// `analyze --jsonl DIR`: the incremental run of `callscope::live::replay`.
fn analyze_jsonl(args: &AnalyzeArgs, config: &Config, dir: &Path) -> anyhow::Result<ExitCode> {
    let map = site_map(&args.site)?;
    let opts = callscope::live::replay::ReplayOptions {
        out: dir,
        interval_ns: i64::try_from(args.jsonl_interval.as_nanos()).unwrap_or(i64::MAX),
        limits: callscope::live::replay::file_limits(),
        sites: &map,
        site_options: SiteOptions { bucket_minutes: args.site.bucket_minutes },
    };
    let summary = callscope::live::replay::replay(&args.captures, config, &opts)?;
    report_warnings(&summary.inputs);
    eprintln!(
        "callscope: {} calls and {} streams written into {} in {} batches (at most {} dialogs and {} streams held at once)",
        summary.calls,
        summary.streams,
        dir.display(),
        summary.batches,
        summary.max_held_dialogs,
        summary.max_held_streams
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(feature = "polars")]
fn write_parquet(doc: &report::Document, sites: &SiteReport, dir: &Path) -> anyhow::Result<()> {
    report::parquet::write_dir(doc, sites, dir)
        .with_context(|| format!("writing Parquet files into {}", dir.display()))?;
    Ok(())
}

#[cfg(not(feature = "polars"))]
fn write_parquet(_doc: &report::Document, _sites: &SiteReport, _dir: &Path) -> anyhow::Result<()> {
    anyhow::bail!("--format parquet needs a build with the `polars` feature (cargo build --release --features polars)")
}

/// Writes `doc` in `format` (JSON on up to `threads` threads).
fn write_doc(
    doc: &report::Document,
    format: Format,
    threads: usize,
    out: &mut dyn Write,
    path: &Path,
) -> anyhow::Result<()> {
    match format {
        Format::Table => report::table::write(doc, out),
        Format::Json => report::write_json_threaded(doc, out, threads),
        Format::Csv => report::csv::write_all(doc, out),
    }
    .and_then(|()| out.flush())
    .with_context(|| format!("writing {}", path.display()))
}

/// `--windows` with CSV to one stream: a `# windows` table after the others.
fn write_windows_table(
    doc: &report::Document,
    format: Format,
    windows: bool,
    out: &mut dyn Write,
    path: &Path,
) -> anyhow::Result<()> {
    if !(windows && format == Format::Csv) {
        return Ok(());
    }
    out.write_all(b"\n# windows\n")
        .and_then(|()| report::csv::write_windows(doc, out))
        .and_then(|()| out.flush())
        .with_context(|| format!("writing {}", path.display()))
}

/// One line per input with warnings on stderr; the details are in `inputs[].warnings`.
fn report_warnings(inputs: &[report::records::Input]) {
    for input in inputs {
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
