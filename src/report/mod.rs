//! Stage 9 — report: analysis results → the records of output-contract.md ([`records`]), and
//! the sinks that print them (table, JSON, CSV). Records carry every number; sinks only format.

pub mod csv;
pub mod html;
#[cfg(feature = "polars")]
pub mod parquet;
pub mod plots;
pub mod quality;
pub mod records;
pub mod registrations;
pub mod table;

use std::io::Write;

pub use records::{build, build_threaded, build_with_sites, Document};

/// Output format (`--format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Aligned terminal tables: calls, then streams.
    Table,
    /// The JSON document of output-contract.md.
    Json,
    /// CSV, one table per record kind.
    Csv,
}

/// Writes the JSON document.
pub fn write_json(doc: &Document, out: &mut dyn Write) -> std::io::Result<()> {
    write_json_threaded(doc, out, 1)
}

/// Streams below which [`write_json_threaded`] renders everything on one thread.
const PARALLEL_JSON_MIN_STREAMS: usize = 64;

/// Stream records the second thread of [`write_json_threaded`] renders at most: it holds them
/// in memory until their turn comes (about 2.4 KB each on the bench capture), so this bounds
/// what the parallel writer adds to the peak, however long the capture.
const PARALLEL_JSON_MAX_STREAMS: usize = 1024;

/// [`write_json`] on up to `threads` threads: byte for byte the same document. The stream
/// records are three quarters of it and about 90 % of its cost (each carries its quality
/// figures and windows), so with two threads the later part of them (60 %, at most 1024, which
/// bounds the memory it holds) is rendered on a second thread while this one writes the rest.
pub fn write_json_threaded(doc: &Document, out: &mut dyn Write, threads: usize) -> std::io::Result<()> {
    // serde_json writes token by token: through a concrete buffer those writes are inlined
    // copies, where through `dyn Write` each was a dynamic call (a third of the JSON cost).
    let mut buffered = std::io::BufWriter::with_capacity(64 * 1024, out);
    let n = doc.streams.len();
    if threads < 2 || n < PARALLEL_JSON_MIN_STREAMS {
        serde_json::to_writer_pretty(&mut buffered, doc)?;
    } else {
        write_json_split(doc, &mut buffered, n - (n * 3 / 5).min(PARALLEL_JSON_MAX_STREAMS))?;
    }
    buffered.write_all(b"\n")?;
    buffered.flush()
}

/// The document as `serde_json::to_writer_pretty` writes it, with `streams[split..]` rendered
/// on a scoped thread. Written member by member: each value is rendered by serde_json and
/// indented to its depth (PrettyFormatter's layout: two spaces per level; a JSON string never
/// holds a raw newline, so indenting after every newline is exact). `json_tests` holds it to
/// serde_json's output, members and order included.
fn write_json_split(doc: &Document, out: &mut impl Write, split: usize) -> std::io::Result<()> {
    let (earlier, later) = doc.streams.split_at(split.min(doc.streams.len()));
    std::thread::scope(|scope| {
        let later = scope.spawn(|| {
            let mut rendered = Vec::with_capacity(later.len() * 2048);
            write_elements(&mut rendered, later, earlier.is_empty()).map(|()| rendered)
        });
        out.write_all(b"{")?;
        member(out, "schema", &doc.schema, true)?;
        member(out, "tool", &doc.tool, false)?;
        member(out, "inputs", &doc.inputs, false)?;
        out.write_all(b",\n  \"calls\": [")?;
        write_elements(out, &doc.calls, true)?;
        out.write_all(if doc.calls.is_empty() { b"]" } else { b"\n  ]" })?;
        out.write_all(b",\n  \"streams\": [")?;
        write_elements(out, earlier, true)?;
        out.write_all(&later.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))?)?;
        out.write_all(if doc.streams.is_empty() { b"]" } else { b"\n  ]" })?;
        member(out, "registrations", &doc.registrations, false)?;
        member(out, "sites", &doc.sites, false)?;
        member(out, "summary", &doc.summary, false)?;
        if !doc.site_windows.is_empty() {
            member(out, "site_windows", &doc.site_windows, false)?;
        }
        out.write_all(b"\n}")
    })
}

/// `"name": value` of the top-level object, after a comma unless `first`.
fn member(out: &mut impl Write, name: &str, value: &impl serde::Serialize, first: bool) -> std::io::Result<()> {
    out.write_all(if first { b"\n  \"" } else { b",\n  \"" })?;
    out.write_all(name.as_bytes())?;
    out.write_all(b"\": ")?;
    write_indented(out, &serde_json::to_vec_pretty(value)?, b"  ")
}

/// Elements of a top-level array as PrettyFormatter lays them out (each on a new line at depth
/// two, separated by commas), without the brackets; `first` when they start the array (else
/// they continue it, after a comma). One element is in memory at a time.
fn write_elements<T: serde::Serialize>(out: &mut impl Write, items: &[T], first: bool) -> std::io::Result<()> {
    let mut rendered = Vec::with_capacity(4096);
    for (i, item) in items.iter().enumerate() {
        out.write_all(if first && i == 0 { b"\n    " } else { b",\n    " })?;
        rendered.clear();
        serde_json::to_writer_pretty(&mut rendered, item)?;
        write_indented(out, &rendered, b"    ")?;
    }
    Ok(())
}

/// Copies `json` with `indent` after each newline.
fn write_indented(out: &mut impl Write, json: &[u8], indent: &[u8]) -> std::io::Result<()> {
    let mut start = 0;
    for newline in memchr::memchr_iter(b'\n', json) {
        out.write_all(json.get(start..=newline).unwrap_or_default())?;
        out.write_all(indent)?;
        start = newline + 1;
    }
    out.write_all(json.get(start..).unwrap_or_default())
}

/// Creates (or replaces) an output file without following a symlink at `path`: someone who can
/// write into the output directory could plant `out.json -> ~/.ssh/authorized_keys`, and
/// `File::create` would truncate the link's target. An existing regular file is removed first;
/// a symlink or any other non-file is refused. The file is then opened with `create_new`
/// (`O_CREAT | O_EXCL`, which never follows a symlink — POSIX open(2)), so a link planted between
/// the check and the open makes the open fail rather than write through it.
pub fn create_output_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    clear_output_path(path)?;
    std::fs::OpenOptions::new().write(true).create_new(true).open(path)
}

/// Makes `path` free for a new output file: removes an existing regular file, refuses a
/// symlink (dangling or not) or any other non-file. For writers that open the path themselves
/// (the PNG encoder of `plotters`); prefer [`create_output_file`], which also closes the race.
pub fn clear_output_path(path: &std::path::Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            Err(std::io::Error::other(format!("{} is a symbolic link; refusing to write through it", path.display())))
        }
        Ok(meta) if meta.is_file() => std::fs::remove_file(path),
        Ok(_) => Err(std::io::Error::other(format!("{} exists and is not a regular file", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Opens an output file for appending (created if missing) without following a symlink:
/// `O_NOFOLLOW` makes open(2) fail with ELOOP when `path` is a symlink (POSIX.1-2008), so
/// appended JSON lines never land in a planted link's target.
pub fn append_output_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().create(true).append(true).custom_flags(libc::O_NOFOLLOW).open(path).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) {
            std::io::Error::other(format!("{} is a symbolic link; refusing to write through it", path.display()))
        } else {
            e
        }
    })
}

/// Creates a folder callscope makes inside an output directory (a bundle's call folder, the
/// report's `plots/`) and checks that it is a real directory: `create_dir_all` accepts a
/// planted symlink to a directory elsewhere and would write the files there.
pub fn create_output_dir(path: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(path)?;
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() || !meta.is_dir() {
        return Err(std::io::Error::other(format!(
            "{} is a symbolic link or not a directory; refusing to write into it",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod json_tests {
    use super::*;

    /// A document of a synthetic capture with calls, streams, site findings and windows.
    fn document(test: &str) -> Document {
        let dir = std::env::temp_dir().join(format!("callscope-json-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("mixed.pcap");
        crate::synth::mixed(40, 8, 60, 3).write_file(&path).expect("synthetic capture written");
        let analysis =
            crate::pipeline::analyze(&[path.to_string_lossy().into_owned()], &crate::config::Config::default());
        let _ = std::fs::remove_dir_all(&dir);
        build(&analysis.expect("synthetic capture opens"))
    }

    fn serde_pretty(doc: &Document) -> Vec<u8> {
        serde_json::to_vec_pretty(doc).expect("serialisable")
    }

    fn split(doc: &Document, at: usize) -> Vec<u8> {
        let mut out = Vec::new();
        write_json_split(doc, &mut out, at).expect("written to memory");
        out
    }

    #[test]
    fn split_json_is_serde_json() {
        let mut doc = document("split");
        let n = doc.streams.len();
        assert!(n >= 60 && doc.calls.len() == 40, "{n} streams");
        for at in [0, 1, n / 2, n - 1, n, n + 5] {
            assert!(split(&doc, at) == serde_pretty(&doc), "split at {at} of {n}");
        }
        // The member written only when not empty, and empty arrays.
        doc.site_windows = vec![serde_json::json!({"bucket": "x", "values": [1, 2.5, {"a": "b\nc"}]})];
        assert!(split(&doc, n / 3) == serde_pretty(&doc));
        doc.streams.truncate(1);
        assert!(split(&doc, 0) == serde_pretty(&doc) && split(&doc, 1) == serde_pretty(&doc));
        doc.streams.clear();
        doc.calls.clear();
        assert!(split(&doc, 0) == serde_pretty(&doc));
    }

    #[test]
    fn threaded_writer_writes_what_the_serial_one_writes() {
        let doc = document("threaded");
        let (mut one, mut two) = (Vec::new(), Vec::new());
        write_json(&doc, &mut one).expect("written to memory");
        write_json_threaded(&doc, &mut two, 2).expect("written to memory");
        assert!(doc.streams.len() >= PARALLEL_JSON_MIN_STREAMS);
        assert!(one == two && one.ends_with(b"}\n"));
    }
}

#[cfg(test)]
mod output_file_tests {
    use super::create_output_file;
    use std::io::Write;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("callscope-outfile-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn planted_symlink_is_refused_and_its_target_untouched() {
        let dir = scratch("symlink");
        let victim = dir.join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let out = dir.join("out.json");
        std::os::unix::fs::symlink(&victim, &out).unwrap();
        let err = create_output_file(&out).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        // A dangling link is refused too (File::create would create its target).
        let dangling = dir.join("dangling.json");
        std::os::unix::fs::symlink(dir.join("nowhere"), &dangling).unwrap();
        assert!(create_output_file(&dangling).is_err());
        assert!(!dir.join("nowhere").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn append_and_folder_refuse_planted_symlinks() {
        let dir = scratch("append");
        let victim = dir.join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let out = dir.join("calls.jsonl");
        std::os::unix::fs::symlink(&victim, &out).unwrap();
        let err = super::append_output_file(&out).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        let fresh = dir.join("fresh.jsonl");
        super::append_output_file(&fresh).unwrap().write_all(b"a\n").unwrap();
        super::append_output_file(&fresh).unwrap().write_all(b"b\n").unwrap();
        assert_eq!(std::fs::read(&fresh).unwrap(), b"a\nb\n");
        // A folder planted as a link to a directory elsewhere.
        let elsewhere = dir.join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, dir.join("plots")).unwrap();
        assert!(super::create_output_dir(&dir.join("plots")).is_err());
        super::create_output_dir(&dir.join("real/nested")).unwrap();
        // clear_output_path refuses links, removes files.
        assert!(super::clear_output_path(&out).is_err());
        super::clear_output_path(&fresh).unwrap();
        assert!(!fresh.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn existing_regular_file_is_replaced() {
        let dir = scratch("regular");
        let out = dir.join("out.json");
        std::fs::write(&out, b"old old old").unwrap();
        create_output_file(&out).unwrap().write_all(b"new").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"new");
        assert!(create_output_file(&dir).is_err(), "a directory is not replaced");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
