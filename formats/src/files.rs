//! The files a run writes: refusing an output that would destroy an input, and writing atomically.
//!
//! [`FileSet`] is told every input and then every output of a run, before anything is opened for
//! writing, and refuses an output that is an input or the same file as another output. It compares
//! files, not path strings, with `same-file`: `./v.jsonl` and `v.jsonl`, a hard link and a symlink all
//! name one file. A path that does not exist yet cannot be an input; two such paths are the same output
//! when they name the same entry of the same directory.
//!
//! [`OutputFile`] writes to a temporary file in the target's directory and renames it into place on
//! [`OutputFile::commit`], when the run has succeeded. Dropped without a commit (the run failed), it
//! deletes the temporary file and the previous file stays as it was. Devices and FIFOs (`/dev/null`,
//! `/dev/stdout`) are written directly: nothing can be renamed onto them, and a run cannot destroy them.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use same_file::Handle;
use tempfile::NamedTempFile;

/// The inputs and outputs of a run, checked so that no output overwrites an input or another output.
#[derive(Default)]
pub struct FileSet {
    inputs: Vec<(&'static str, PathBuf, Handle)>,
    outputs: Vec<(&'static str, PathBuf, OutputKey)>,
}

/// What identifies an output path.
enum OutputKey {
    /// An existing regular file.
    File(Handle),
    /// A path that does not exist yet: its directory (symlinks resolved) and name.
    New(PathBuf),
    /// A device, a FIFO, anything that is not a regular file: never compared.
    Special,
}

/// An output path that names an input or another output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FileConflict {
    /// The flag of the refused output.
    pub output_flag: &'static str,
    /// The path given to it.
    pub output: PathBuf,
    /// The flag of the input or earlier output it would overwrite.
    pub other_flag: &'static str,
    /// The path given to that flag.
    pub other: PathBuf,
    /// True when the other file is an input.
    pub other_is_input: bool,
}

impl fmt::Display for FileConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, consequence) = if self.other_is_input {
            ("the input", "writing it would destroy the input")
        } else {
            ("the output", "one output would overwrite the other")
        };
        write!(
            f,
            "{} {} is the same file as {what} {} {}: {consequence}",
            self.output_flag,
            self.output.display(),
            self.other_flag,
            self.other.display()
        )
    }
}

impl FileSet {
    /// An input already open, identified by `handle`.
    pub fn add_input_handle(&mut self, flag: &'static str, path: &Path, handle: Handle) {
        self.inputs.push((flag, path.to_owned(), handle));
    }

    /// An input given by path. Only a regular file is recorded: opening a FIFO here would wait for a
    /// writer (and a FIFO cannot be an output's file anyway); a path that cannot be opened is left to
    /// the code that reads it to report.
    pub fn add_input_path(&mut self, flag: &'static str, path: &Path) {
        if fs::metadata(path).is_ok_and(|m| m.is_file()) {
            if let Ok(handle) = Handle::from_path(path) {
                self.inputs.push((flag, path.to_owned(), handle));
            }
        }
    }

    /// An output: refused when it is an input or the same file as an output added before.
    pub fn add_output(&mut self, flag: &'static str, path: &Path) -> Result<(), FileConflict> {
        let key = output_key(path);
        let conflict = |other_flag: &'static str, other: &Path, other_is_input: bool| FileConflict {
            output_flag: flag,
            output: path.to_owned(),
            other_flag,
            other: other.to_owned(),
            other_is_input,
        };
        if let OutputKey::File(handle) = &key {
            if let Some((other_flag, other, _)) = self.inputs.iter().find(|(_, _, input)| input == handle) {
                return Err(conflict(other_flag, other, true));
            }
        }
        let same = |other: &OutputKey| match (&key, other) {
            (OutputKey::File(a), OutputKey::File(b)) => a == b,
            (OutputKey::New(a), OutputKey::New(b)) => a == b,
            _ => false,
        };
        if let Some((other_flag, other, _)) = self.outputs.iter().find(|(_, _, other)| same(other)) {
            return Err(conflict(other_flag, other, false));
        }
        self.outputs.push((flag, path.to_owned(), key));
        Ok(())
    }
}

fn output_key(path: &Path) -> OutputKey {
    match fs::metadata(path) {
        Ok(metadata) if metadata.is_file() => match Handle::from_path(path) {
            Ok(handle) => OutputKey::File(handle),
            // Not readable (a write-only file): its resolved path still identifies it.
            Err(_) => fs::canonicalize(path).map_or(OutputKey::Special, OutputKey::New),
        },
        Ok(_) => OutputKey::Special,
        Err(_) => OutputKey::New(resolve_new(path)),
    }
}

/// A path that does not exist yet, with its directory's symlinks and `.`/`..` resolved.
fn resolve_new(path: &Path) -> PathBuf {
    let directory = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match (fs::canonicalize(directory), path.file_name()) {
        (Ok(directory), Some(name)) => directory.join(name),
        _ => path.to_owned(),
    }
}

/// A file written as a whole or not at all: see the [module documentation](self).
pub struct OutputFile {
    path: PathBuf,
    writer: BufWriter<Target>,
}

enum Target {
    /// A temporary file beside `target`, renamed onto it on commit.
    Temporary { file: NamedTempFile, target: PathBuf },
    /// A device or FIFO, written directly.
    Direct(File),
}

impl Write for Target {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Target::Temporary { file, .. } => file.write(buf),
            Target::Direct(file) => file.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Target::Temporary { file, .. } => file.flush(),
            Target::Direct(file) => file.flush(),
        }
    }
}

impl OutputFile {
    /// Prepares to write `path`: creates a temporary file in its directory (for a symlink, in the
    /// directory of the file it points to, which is what gets replaced). An existing file keeps its
    /// permissions; a new one gets the usual ones (`0666` less the umask).
    pub fn create(path: &Path) -> io::Result<OutputFile> {
        let in_context = |e: io::Error| io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display()));
        let existing = match fs::metadata(path) {
            Ok(metadata) if !metadata.is_file() && !metadata.is_dir() => {
                let file = File::create(path).map_err(in_context)?;
                return Ok(OutputFile::new(path, Target::Direct(file)));
            }
            Ok(metadata) => Some(metadata),
            Err(_) => None,
        };
        let target = match &existing {
            Some(_) => fs::canonicalize(path).map_err(in_context)?,
            None => path.to_owned(),
        };
        let directory = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        #[cfg(unix)]
        {
            // NamedTempFile's own default is 0600, private to the owner; a result file is not secret.
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(fs::Permissions::from_mode(0o666));
        }
        let file = builder.tempfile_in(directory).map_err(in_context)?;
        if let Some(metadata) = existing {
            fs::set_permissions(file.path(), metadata.permissions()).map_err(in_context)?;
        }
        Ok(OutputFile::new(path, Target::Temporary { file, target }))
    }

    fn new(path: &Path, target: Target) -> OutputFile {
        OutputFile {
            path: path.to_owned(),
            writer: BufWriter::with_capacity(1 << 16, target),
        }
    }

    /// The path given to [`create`](Self::create).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes out what is buffered and puts the file in place of the previous one, in one rename.
    pub fn commit(self) -> io::Result<()> {
        let path = self.path;
        let in_context = |e: io::Error| io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display()));
        match self.writer.into_inner().map_err(|e| in_context(e.into_error()))? {
            Target::Temporary { file, target } => file.persist(&target).map(drop).map_err(|e| in_context(e.error)),
            Target::Direct(mut file) => file.flush().map_err(in_context),
        }
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.writer.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn an_output_file_appears_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        fs::write(&path, "previous\n").unwrap();
        let mut out = OutputFile::create(&path).unwrap();
        out.write_all(b"new\n").unwrap();
        out.flush().unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "previous\n");
        out.commit().unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
        assert_eq!(names(dir.path()), ["out.jsonl"]);
    }

    #[test]
    fn an_output_file_dropped_without_commit_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        fs::write(&path, "previous\n").unwrap();
        let mut out = OutputFile::create(&path).unwrap();
        out.write_all(&vec![b'x'; 1 << 20]).unwrap();
        drop(out);
        assert_eq!(fs::read_to_string(&path).unwrap(), "previous\n");
        assert_eq!(names(dir.path()), ["out.jsonl"]);
        drop(OutputFile::create(&dir.path().join("new.jsonl")).unwrap());
        assert_eq!(names(dir.path()), ["out.jsonl"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_output_replaces_its_target_and_keeps_the_link_and_the_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.jsonl");
        fs::write(&real, "previous\n").unwrap();
        fs::set_permissions(&real, fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("link.jsonl");
        std::os::unix::fs::symlink("real.jsonl", &link).unwrap();
        let mut out = OutputFile::create(&link).unwrap();
        out.write_all(b"new\n").unwrap();
        out.commit().unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(fs::read_to_string(&real).unwrap(), "new\n");
        assert_eq!(fs::metadata(&real).unwrap().permissions().mode() & 0o777, 0o640);
    }

    #[test]
    fn paths_that_do_not_exist_yet_conflict_when_they_name_the_same_entry() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = FileSet::default();
        files.add_output("--out", &dir.path().join("a.jsonl")).unwrap();
        files.add_output("--late-out", &dir.path().join("b.jsonl")).unwrap();
        let conflict = files
            .add_output("--dlq-out", &dir.path().join(".").join("a.jsonl"))
            .unwrap_err();
        assert_eq!((conflict.output_flag, conflict.other_flag), ("--dlq-out", "--out"));
        assert!(!conflict.other_is_input);
    }

    #[test]
    fn an_existing_output_that_is_an_input_is_named_with_both_flags() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("v.jsonl");
        fs::write(&input, "{}\n").unwrap();
        let mut files = FileSet::default();
        files.add_input_path("--file", &input);
        let message = files
            .add_output(
                "--out",
                &dir.path()
                    .join("..")
                    .join(dir.path().file_name().unwrap())
                    .join("v.jsonl"),
            )
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("--out ") && message.contains("the input --file"),
            "{message}"
        );
    }
}
