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

/// Call and stream records per chunk of [`write_json_threaded`]'s second thread, which renders
/// every other chunk of each array and holds at most [`QUEUED_JSON_CHUNKS`] + 1 rendered chunks
/// (a stream record is about 2.4 KB on the bench capture, a call 1 KB): this bounds what the
/// parallel writer adds to the peak, however long the capture.
const PARALLEL_JSON_CHUNK: usize = 128;

/// Rendered chunks waiting for this thread to write them before the second thread waits.
const QUEUED_JSON_CHUNKS: usize = 2;

/// [`write_json`] on up to `threads` threads: byte for byte the same document. The call and
/// stream records are nearly all of its cost (each stream carries its quality figures and
/// windows), so with two threads they are rendered in chunks, every other chunk on a second
/// thread, while this one renders the rest and writes everything in order.
pub fn write_json_threaded(doc: &Document, out: &mut dyn Write, threads: usize) -> std::io::Result<()> {
    // serde_json writes token by token: through a concrete buffer those writes are inlined
    // copies, where through `dyn Write` each was a dynamic call (a third of the JSON cost).
    let mut buffered = std::io::BufWriter::with_capacity(64 * 1024, out);
    if threads < 2 || doc.calls.len() + doc.streams.len() < 2 * PARALLEL_JSON_CHUNK {
        serde_json::to_writer_pretty(&mut buffered, doc)?;
    } else {
        write_json_split(doc, &mut buffered, PARALLEL_JSON_CHUNK)?;
    }
    buffered.write_all(b"\n")?;
    buffered.flush()
}

/// The document as `serde_json::to_writer_pretty` writes it, the odd-numbered `chunk`s of the
/// calls and of the streams rendered on a scoped thread. Written member by member: each value
/// is rendered by serde_json and indented to its depth (PrettyFormatter's layout: two spaces
/// per level; a JSON string never holds a raw newline, so indenting after every newline is
/// exact). `json_tests` holds it to serde_json's output, members and order included.
fn write_json_split(doc: &Document, out: &mut impl Write, chunk: usize) -> std::io::Result<()> {
    let chunk = chunk.max(1);
    std::thread::scope(|scope| {
        let (rendered, odd_chunks) = std::sync::mpsc::sync_channel(QUEUED_JSON_CHUNKS);
        // Ends early (its send fails) if this thread stops writing: `odd_chunks` is dropped.
        scope.spawn(move || {
            render_odd_chunks(&doc.calls, chunk, &rendered) && render_odd_chunks(&doc.streams, chunk, &rendered)
        });
        out.write_all(b"{")?;
        member(out, "schema", &doc.schema, true)?;
        member(out, "tool", &doc.tool, false)?;
        member(out, "inputs", &doc.inputs, false)?;
        out.write_all(b",\n  \"calls\": [")?;
        write_chunked(out, &doc.calls, chunk, &odd_chunks)?;
        out.write_all(if doc.calls.is_empty() { b"]" } else { b"\n  ]" })?;
        out.write_all(b",\n  \"streams\": [")?;
        write_chunked(out, &doc.streams, chunk, &odd_chunks)?;
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

/// The second thread of [`write_json_split`]: renders chunks 1, 3, 5, ... of `items` and sends
/// them in order; false once the receiver is gone.
fn render_odd_chunks<T: serde::Serialize>(
    items: &[T],
    chunk: usize,
    rendered: &std::sync::mpsc::SyncSender<std::io::Result<Vec<u8>>>,
) -> bool {
    items.chunks(chunk).skip(1).step_by(2).all(|part| {
        let mut bytes = Vec::with_capacity(part.len() * 2048);
        // An odd chunk never holds the array's first element.
        let result = write_elements(&mut bytes, part, false).map(|()| bytes);
        rendered.send(result).is_ok()
    })
}

/// The elements of an array, chunk by chunk: even chunks rendered here, odd ones received
/// from [`render_odd_chunks`].
fn write_chunked<T: serde::Serialize>(
    out: &mut impl Write,
    items: &[T],
    chunk: usize,
    odd_chunks: &std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>>,
) -> std::io::Result<()> {
    for (index, part) in items.chunks(chunk).enumerate() {
        if index % 2 == 0 {
            write_elements(out, part, index == 0)?;
        } else {
            // A closed channel means the other thread panicked: the scope raises that panic.
            let bytes = odd_chunks.recv().map_err(|_| std::io::Error::other("JSON rendering thread stopped"))??;
            out.write_all(&bytes)?;
        }
    }
    Ok(())
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

    /// A document of a synthetic capture of `calls` calls, with streams, site findings and windows.
    fn document(test: &str, calls: usize) -> Document {
        let dir = std::env::temp_dir().join(format!("callscope-json-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("mixed.pcap");
        crate::synth::mixed(calls, 8, 60, 3).write_file(&path).expect("synthetic capture written");
        let analysis =
            crate::pipeline::analyze(&[path.to_string_lossy().into_owned()], &crate::config::Config::default());
        let _ = std::fs::remove_dir_all(&dir);
        build(&analysis.expect("synthetic capture opens"))
    }

    fn serde_pretty(doc: &Document) -> Vec<u8> {
        serde_json::to_vec_pretty(doc).expect("serialisable")
    }

    fn split(doc: &Document, chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        write_json_split(doc, &mut out, chunk).expect("written to memory");
        out
    }

    #[test]
    fn split_json_is_serde_json() {
        let mut doc = document("split", 40);
        let n = doc.streams.len();
        assert!(n >= 60 && doc.calls.len() == 40, "{n} streams");
        // Chunks of one element, uneven chunks, one chunk per array, one array in one chunk.
        for chunk in [1, 2, 7, 39, 40, 41, n / 2, n, n + 5] {
            assert!(split(&doc, chunk) == serde_pretty(&doc), "chunks of {chunk} ({n} streams)");
        }
        // The member written only when not empty, and empty arrays.
        doc.site_windows = vec![serde_json::json!({"bucket": "x", "values": [1, 2.5, {"a": "b\nc"}]})];
        assert!(split(&doc, 3) == serde_pretty(&doc));
        doc.streams.truncate(1);
        assert!(split(&doc, 1) == serde_pretty(&doc) && split(&doc, 2) == serde_pretty(&doc));
        doc.streams.clear();
        assert!(split(&doc, 1) == serde_pretty(&doc));
        doc.calls.clear();
        assert!(split(&doc, 1) == serde_pretty(&doc));
    }

    #[test]
    fn threaded_writer_writes_what_the_serial_one_writes() {
        let doc = document("threaded", 120);
        let (mut one, mut two) = (Vec::new(), Vec::new());
        write_json(&doc, &mut one).expect("written to memory");
        write_json_threaded(&doc, &mut two, 2).expect("written to memory");
        assert!(doc.calls.len() + doc.streams.len() >= 2 * PARALLEL_JSON_CHUNK);
        assert!(one == two && one.ends_with(b"}\n"));
    }

    /// A writer that fails after `left` bytes.
    struct FailingWriter {
        left: usize,
    }

    impl Write for FailingWriter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.left == 0 {
                return Err(std::io::Error::other("disk full"));
            }
            let n = buf.len().min(self.left);
            self.left -= n;
            Ok(n)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A failed write ends the run with the error, without waiting forever on the rendering
    /// thread (which is blocked on its full queue until the receiver is dropped).
    #[test]
    fn a_failing_output_ends_the_split_writer_with_its_error() {
        let doc = document("failing", 40);
        for left in [0, 100, 5000] {
            let err = write_json_split(&doc, &mut FailingWriter { left }, 1).expect_err("the write fails");
            assert_eq!(err.to_string(), "disk full");
        }
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
