//! The non-blocking writer: callers append whole lines to a bounded buffer under a short lock and
//! never wait for I/O; a thread of its own writes them out. A line that does not fit is dropped
//! and counted. Two buffers swap, so the steady state allocates nothing.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::sync;

use super::{Output, Rotation};

pub(crate) struct Sink {
    state: Mutex<State>,
    wake: Condvar,
    /// Notified by the writer after each batch (for `flush`).
    written_batch: Condvar,
    capacity: usize,
    pub(crate) stats: Arc<Stats>,
}

struct State {
    lines: Vec<u8>,
    pending_lines: u64,
    closing: bool,
    /// Batches taken by the writer, and batches written.
    taken: u64,
    done: u64,
    /// The writer is parked and must be woken for new lines.
    writer_waiting: bool,
    /// A flush is waiting: write now rather than let a batch gather.
    urgent: bool,
    /// Lines of the batch the writer is writing.
    in_flight: u64,
    /// Stopping gave up on the writer (its output blocks) and counted what it held as dropped.
    abandoned: bool,
}

/// How long the writer lets lines gather once woken, so that a steady stream of events costs a
/// wake-up every few milliseconds instead of one per line.
const GATHER: Duration = Duration::from_millis(2);

/// What the writer did, for [`super::LogGuard`] and the self-metric.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) written: AtomicU64,
    pub(crate) dropped_full: AtomicU64,
    pub(crate) dropped_write_error: AtomicU64,
    pub(crate) dropped_shutdown: AtomicU64,
}

impl Sink {
    pub(crate) fn new(capacity: usize) -> Sink {
        Sink {
            state: Mutex::new(State {
                lines: Vec::with_capacity(capacity),
                pending_lines: 0,
                closing: false,
                taken: 0,
                done: 0,
                writer_waiting: false,
                urgent: false,
                in_flight: 0,
                abandoned: false,
            }),
            wake: Condvar::new(),
            written_batch: Condvar::new(),
            capacity,
            stats: Arc::new(Stats::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        sync::lock(&self.state)
    }

    /// Appends one whole line (ending in `\n`), or drops and counts it if the buffer is full.
    pub(crate) fn push(&self, line: &[u8]) -> bool {
        let mut state = self.lock();
        if state.closing {
            drop(state);
            self.stats.dropped_shutdown.fetch_add(1, Ordering::Relaxed);
            super::self_metrics::dropped("shutdown", 1);
            return false;
        }
        if state.lines.len() + line.len() > self.capacity {
            drop(state);
            self.stats.dropped_full.fetch_add(1, Ordering::Relaxed);
            super::self_metrics::dropped("buffer_full", 1);
            return false;
        }
        state.lines.extend_from_slice(line);
        state.pending_lines += 1;
        // Only a parked writer needs a (system call) wake-up; a busy one takes the line next.
        let wake = std::mem::take(&mut state.writer_waiting) || state.lines.len() > self.capacity / 2;
        drop(state);
        if wake {
            self.wake.notify_one();
        }
        true
    }

    /// Waits (at most `timeout`) until every line pushed before the call is written.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let mut state = self.lock();
        // Lines in the buffer go in the next batch; a batch in flight must finish too.
        let target = if state.lines.is_empty() { state.taken } else { state.taken + 1 };
        state.urgent = true;
        self.wake.notify_one();
        while state.done < target {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            state = sync::wait_timeout(&self.written_batch, state, left);
        }
        true
    }

    pub(crate) fn close(&self) {
        self.lock().closing = true;
        self.wake.notify_one();
    }

    /// Gives up on the writer (stopping's deadline passed with lines unwritten): the lines it is
    /// writing and those buffered are counted as dropped now (and returned), and it writes
    /// nothing more.
    pub(crate) fn abandon(&self) -> u64 {
        let mut state = self.lock();
        state.closing = true;
        state.abandoned = true;
        let lost = state.pending_lines + std::mem::take(&mut state.in_flight);
        state.pending_lines = 0;
        state.lines.clear();
        drop(state);
        self.wake.notify_one();
        if lost > 0 {
            self.stats.dropped_shutdown.fetch_add(lost, Ordering::Relaxed);
            super::self_metrics::dropped("shutdown", lost);
        }
        lost
    }

    /// The writer thread's loop: until closed and empty, take the buffer and write it.
    pub(crate) fn run(&self, mut output: Writer) {
        let mut spare: Vec<u8> = Vec::with_capacity(self.capacity);
        loop {
            let mut state = self.lock();
            while state.lines.is_empty() && !state.closing {
                state.writer_waiting = true;
                state = sync::wait(&self.wake, state);
            }
            state.writer_waiting = false;
            if state.lines.is_empty() && state.closing {
                break;
            }
            if !state.closing && !state.urgent && state.lines.len() <= self.capacity / 2 {
                // Let a batch gather; a flush, a close or a filling buffer cuts it short.
                state = sync::wait_timeout(&self.wake, state, GATHER);
            }
            state.urgent = false;
            std::mem::swap(&mut state.lines, &mut spare);
            let lines = std::mem::take(&mut state.pending_lines);
            state.in_flight = lines;
            state.taken += 1;
            drop(state);
            // A writer that fails or panics costs its batch, never the writer thread.
            let mut progress = 0;
            let written =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| output.write_batch(&spare, &mut progress)));
            let mut state = self.lock();
            state.in_flight = 0;
            // Abandoned while writing: counted as dropped already.
            let abandoned = state.abandoned;
            drop(state);
            match written {
                _ if abandoned => {}
                Ok(Ok(())) => {
                    self.stats.written.fetch_add(lines, Ordering::Relaxed);
                }
                Ok(Err(_)) | Err(_) => {
                    self.stats.dropped_write_error.fetch_add(lines, Ordering::Relaxed);
                    super::self_metrics::dropped("write_error", lines);
                    // Part of a line may be out: end it, so the next batch starts on a line of
                    // its own.
                    if progress > 0 && spare.get(progress - 1) != Some(&b'\n') {
                        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            output.write_batch(b"\n", &mut 0)
                        }));
                    }
                }
            }
            spare.clear();
            let mut state = self.lock();
            state.done += 1;
            drop(state);
            self.written_batch.notify_all();
        }
        let _ = output.flush();
    }
}

/// Where batches go.
pub(crate) enum Writer {
    Stdout,
    Stderr,
    Custom(Box<dyn Write + Send>),
    File(RotatingFile),
}

impl Writer {
    pub(crate) fn open(output: Output) -> io::Result<Writer> {
        Ok(match output {
            Output::Stdout => Writer::Stdout,
            Output::Stderr => Writer::Stderr,
            Output::Writer(writer) => Writer::Custom(writer),
            Output::File { path, rotation, keep } => Writer::File(RotatingFile::open(path, rotation, keep)?),
        })
    }

    /// Writes `batch`; `progress` counts the bytes out so far, also when it fails part way.
    fn write_batch(&mut self, batch: &[u8], progress: &mut usize) -> io::Result<()> {
        match self {
            Writer::Stdout => {
                let mut stdout = io::stdout().lock();
                write_tracked(&mut stdout, batch, progress)?;
                stdout.flush()
            }
            Writer::Stderr => write_tracked(&mut io::stderr().lock(), batch, progress),
            Writer::Custom(writer) => {
                write_tracked(writer, batch, progress)?;
                writer.flush()
            }
            Writer::File(file) => file.write_batch(batch, progress),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Writer::Stdout => io::stdout().flush(),
            Writer::Stderr => Ok(()),
            Writer::Custom(writer) => writer.flush(),
            Writer::File(file) => file.file.flush(),
        }
    }
}

/// `write_all`, counting what went out in `progress`.
fn write_tracked(writer: &mut dyn Write, bytes: &[u8], progress: &mut usize) -> io::Result<()> {
    let mut rest = bytes;
    while !rest.is_empty() {
        match writer.write(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(count) => {
                *progress += count;
                rest = &rest[count..];
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// A log file rotated by size (`path` -> `path.1` -> `path.2` ..) or by time (`path` ->
/// `path.2026-11-29` or `path.2026-11-29T13`), keeping the `keep` newest rotated files.
pub(crate) struct RotatingFile {
    path: PathBuf,
    rotation: Rotation,
    keep: usize,
    file: File,
    size: u64,
    /// The period (hour or day number) the open file belongs to.
    period: u64,
}

fn period_of(rotation: Rotation, time: SystemTime) -> u64 {
    let seconds = time.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    match rotation {
        Rotation::Hourly => seconds / 3600,
        Rotation::Daily => seconds / 86_400,
        Rotation::Never | Rotation::Size(_) => 0,
    }
}

impl RotatingFile {
    fn open(path: PathBuf, rotation: Rotation, keep: usize) -> io::Result<RotatingFile> {
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let metadata = file.metadata()?;
        let size = metadata.len();
        // A file left by an earlier run belongs to the period it was last written in.
        let period = period_of(rotation, metadata.modified().unwrap_or_else(|_| SystemTime::now()));
        Ok(RotatingFile { path, rotation, keep, file, size, period })
    }

    fn write_batch(&mut self, batch: &[u8], progress: &mut usize) -> io::Result<()> {
        match self.rotation {
            Rotation::Size(limit) => {
                // Line by line, so that each file stays within the limit however the lines were
                // batched (a single line longer than the limit gets a file of its own).
                let mut rest = batch;
                while !rest.is_empty() {
                    let room = limit.saturating_sub(self.size) as usize;
                    let mut take = 0;
                    for (index, byte) in rest.iter().enumerate() {
                        if *byte == b'\n' {
                            if index + 1 > room && take > 0 {
                                break;
                            }
                            take = index + 1;
                            if index + 1 > room {
                                break;
                            }
                        }
                    }
                    let take = if take == 0 { rest.len() } else { take };
                    // If rotating fails (a full disk, a read-only directory), keep appending to
                    // the current file rather than losing every later line.
                    if self.size > 0 && self.size + take as u64 > limit && self.rotate_by_size().is_ok() {
                        continue;
                    }
                    let before = *progress;
                    let written = write_tracked(&mut self.file, &rest[..take], progress);
                    self.size += (*progress - before) as u64;
                    written?;
                    rest = &rest[take..];
                }
                return Ok(());
            }
            Rotation::Hourly | Rotation::Daily => {
                let now = period_of(self.rotation, SystemTime::now());
                if now != self.period && self.size > 0 {
                    // As above: a failed rotation keeps the current file.
                    let _ = self.rotate_by_time();
                }
                self.period = now;
            }
            _ => {}
        }
        let before = *progress;
        let written = write_tracked(&mut self.file, batch, progress);
        self.size += (*progress - before) as u64;
        written
    }

    fn numbered(&self, index: usize) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{index}"));
        PathBuf::from(name)
    }

    fn rotate_by_size(&mut self) -> io::Result<()> {
        self.file.flush()?;
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            let _ = std::fs::remove_file(self.numbered(self.keep));
            for index in (1..self.keep).rev() {
                let from = self.numbered(index);
                if from.exists() {
                    std::fs::rename(&from, self.numbered(index + 1))?;
                }
            }
            std::fs::rename(&self.path, self.numbered(1))?;
        }
        self.reopen()
    }

    fn rotate_by_time(&mut self) -> io::Result<()> {
        self.file.flush()?;
        let stamp = period_stamp(self.rotation, self.period);
        let mut name = self.path.clone().into_os_string();
        name.push(format!(".{stamp}"));
        std::fs::rename(&self.path, PathBuf::from(name))?;
        self.prune_dated()?;
        self.reopen()
    }

    /// Keeps the `keep` newest `path.<date>` files (their names sort by date).
    fn prune_dated(&self) -> io::Result<()> {
        let (Some(dir), Some(base)) = (self.path.parent(), self.path.file_name().and_then(|name| name.to_str())) else {
            return Ok(());
        };
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        let prefix = format!("{base}.");
        let mut dated: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| {
                path.file_name().and_then(|name| name.to_str()).is_some_and(|name| {
                    name.strip_prefix(&prefix).is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
                })
            })
            .collect();
        dated.sort();
        let excess = dated.len().saturating_sub(self.keep);
        for old in &dated[..excess] {
            std::fs::remove_file(old)?;
        }
        Ok(())
    }

    fn reopen(&mut self) -> io::Result<()> {
        self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

/// `2026-11-29` for a day, `2026-11-29T13` for an hour.
fn period_stamp(rotation: Rotation, period: u64) -> String {
    let seconds = match rotation {
        Rotation::Hourly => period * 3600,
        _ => period * 86_400,
    };
    let mut out = Vec::with_capacity(27);
    crate::time::write_rfc3339_micros(&mut out, UNIX_EPOCH + Duration::from_secs(seconds));
    let text = String::from_utf8_lossy(&out).into_owned();
    match rotation {
        Rotation::Hourly => text[..13].to_owned(),
        _ => text[..10].to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps() {
        assert_eq!(period_stamp(Rotation::Daily, 20_421), "2025-11-29");
        assert_eq!(period_stamp(Rotation::Hourly, 20_421 * 24 + 13), "2025-11-29T13");
    }

    #[test]
    fn size_rotation_keeps_the_newest() {
        let dir = std::env::temp_dir().join(format!("obs-rotate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("app.log");
        let mut file = RotatingFile::open(path.clone(), Rotation::Size(10), 2).expect("opens");
        // One batch of four lines, as the writer may get them: still one line per file.
        file.write_batch(b"aaaaaaaa\nbbbbbbbb\ncccccccc\ndddddddd\n", &mut 0).expect("writes");
        let read = |path: PathBuf| std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(read(path.clone()), "dddddddd\n");
        assert_eq!(read(dir.join("app.log.1")), "cccccccc\n");
        assert_eq!(read(dir.join("app.log.2")), "bbbbbbbb\n");
        assert!(!dir.join("app.log.3").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
