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

pub use records::{build, build_with_sites, Document};

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
    // serde_json writes token by token: through a concrete buffer those writes are inlined
    // copies, where through `dyn Write` each was a dynamic call (a third of the JSON cost).
    let mut buffered = std::io::BufWriter::with_capacity(64 * 1024, out);
    serde_json::to_writer_pretty(&mut buffered, doc)?;
    buffered.write_all(b"\n")?;
    buffered.flush()
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
