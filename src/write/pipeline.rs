//! A file written by a background thread, so that narrowing and checksumming tokens on the
//! caller's thread overlaps with the kernel copying the previous buffer into the page cache.

use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use tempfile::NamedTempFile;

/// Bytes per buffer handed to the writing thread.
const CHUNK: usize = 4 << 20;
/// Buffers queued for the writing thread at most; with the one being filled and the one
/// being written, memory stays at `(DEPTH + 2) * CHUNK`.
const DEPTH: usize = 2;

/// Buffered writes to a temporary file, performed on a background thread.
pub struct PipelinedFile {
    filling: Vec<u8>,
    /// Buffers made so far; at most `DEPTH + 2`, after which buffers are waited for.
    buffers: usize,
    to_writer: Option<SyncSender<Vec<u8>>>,
    recycled: Receiver<Vec<u8>>,
    thread: Option<JoinHandle<io::Result<NamedTempFile>>>,
}

impl PipelinedFile {
    /// Starts the writing thread; bytes go to `file` from its current position on.
    pub fn new(mut file: NamedTempFile) -> io::Result<PipelinedFile> {
        let (to_writer, from_caller) = mpsc::sync_channel::<Vec<u8>>(DEPTH);
        let (recycle, recycled) = mpsc::sync_channel::<Vec<u8>>(DEPTH + 2);
        let thread = std::thread::Builder::new()
            .name("tokpack-writer".into())
            .spawn(move || {
                for mut buf in from_caller {
                    file.write_all(&buf)?;
                    buf.clear();
                    // The caller may have finished and dropped its receiver: nothing to recycle to.
                    let _ = recycle.try_send(buf);
                }
                Ok(file)
            })?;
        Ok(PipelinedFile {
            filling: Vec::with_capacity(CHUNK),
            buffers: 1,
            to_writer: Some(to_writer),
            recycled,
            thread: Some(thread),
        })
    }

    fn send_filling(&mut self) -> io::Result<()> {
        let next = match self.recycled.try_recv() {
            Ok(buf) => buf,
            Err(_) if self.buffers < DEPTH + 2 => {
                self.buffers += 1;
                Vec::with_capacity(CHUNK)
            }
            // All buffers are in flight: wait for the thread to hand one back.
            Err(_) => match self.recycled.recv() {
                Ok(buf) => buf,
                Err(_) => {
                    return Err(self
                        .join()
                        .err()
                        .unwrap_or_else(|| io::Error::other("the writing thread stopped")))
                }
            },
        };
        let full = std::mem::replace(&mut self.filling, next);
        let sender = self
            .to_writer
            .as_ref()
            .expect("can't fail: only finish() takes the sender");
        if sender.send(full).is_err() {
            // The thread stopped on an error: report it.
            return Err(self
                .join()
                .err()
                .unwrap_or_else(|| io::Error::other("the writing thread stopped")));
        }
        Ok(())
    }

    fn join(&mut self) -> io::Result<NamedTempFile> {
        self.to_writer = None;
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the writing thread panicked"))),
            None => Err(io::Error::other("the writing thread already stopped")),
        }
    }

    /// Appends `n` bytes made in place by `fill`, which returns whether to keep them. When
    /// they fit a buffer they are made straight into it (no intermediate copy); dropped bytes
    /// leave no trace. Returns whether they were kept.
    pub fn append_with(
        &mut self,
        n: usize,
        fill: impl FnOnce(&mut [u8]) -> bool,
    ) -> io::Result<bool> {
        if n > CHUNK {
            let mut scratch = vec![0u8; n];
            let keep = fill(&mut scratch);
            if keep {
                self.write_all(&scratch)?;
            }
            return Ok(keep);
        }
        if self.filling.len() + n > CHUNK {
            self.send_filling()?;
        }
        let start = self.filling.len();
        self.filling.resize(start + n, 0);
        let keep = fill(&mut self.filling[start..]);
        if !keep {
            self.filling.truncate(start);
        } else if self.filling.len() == CHUNK {
            self.send_filling()?;
        }
        Ok(keep)
    }

    /// Writes what is buffered, stops the thread and hands back the file.
    pub fn finish(mut self) -> io::Result<NamedTempFile> {
        if !self.filling.is_empty() {
            self.send_filling()?;
        }
        self.join()
    }
}

impl Write for PipelinedFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.write_all(bytes)?;
        Ok(bytes.len())
    }

    fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            let room = CHUNK - self.filling.len();
            let n = room.min(bytes.len());
            self.filling.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.filling.len() == CHUNK {
                self.send_filling()?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for PipelinedFile {
    fn drop(&mut self) {
        // Stop the thread; the temporary file it owns is deleted when it is dropped there.
        self.to_writer = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
