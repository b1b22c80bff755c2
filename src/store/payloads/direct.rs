//! Segment bytes written with `O_DIRECT`, straight from the hub's memory to the disk.
//!
//! A buffered write of new bytes has the kernel take fresh pages for its cache. On a VM whose
//! host takes back the guest's free pages (free page reporting, common on small cloud VMs),
//! the host has to fault each of those pages in again: on this project's machines the journal
//! thread spent ~90% of its time copying 1 MB bodies into the cache at ~100 MB/s, while the
//! same disk took direct writes at 1.6 GB/s (BENCHMARKS.md). Segments are written once and
//! read seldom, so nothing is lost by keeping them out of the cache.
//!
//! A direct write starts on a block and is whole blocks long, from memory aligned the same way
//! ([`BLOCK`]); its bytes are copied into a [`Blocks`] buffer first, padded with zeros. Where
//! the filesystem refuses `O_DIRECT` (an old tmpfs, some network filesystems), the file is
//! written through the page cache as before. Either way the sync that follows is what makes
//! the bytes durable.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;

/// What a direct write's offset, length and memory are aligned to: the largest logical block
/// disks have.
pub(super) const BLOCK: usize = 4096;
/// The most one direct write takes (the size of a [`Blocks`] buffer).
pub(super) const CHUNK: usize = 1024 * 1024;

/// A file being written, directly where the filesystem allows it.
pub(super) struct Target {
    pub file: Arc<File>,
    /// The same file opened with `O_DIRECT`.
    direct: Option<File>,
}

impl Target {
    /// `file`, and `path` opened again for direct writes unless `buffered` (a direct write
    /// was refused before) or the filesystem refuses.
    pub(super) fn new(file: File, path: &Path, buffered: bool) -> Self {
        let file = Arc::new(file);
        let direct = match buffered {
            true => None,
            false => OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_DIRECT)
                .open(path)
                .ok(),
        };
        Self { file, direct }
    }

    pub(super) fn is_direct(&self) -> bool {
        self.direct.is_some()
    }

    /// Writes `blocks` (whole blocks, from a [`Blocks`] buffer) at `offset` (a block's start);
    /// through the page cache, from now on, if the filesystem refuses the direct write.
    pub(super) fn write_blocks(&mut self, blocks: &[u8], offset: u64) -> io::Result<()> {
        if let Some(direct) = &self.direct {
            match direct.write_all_at(blocks, offset) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::InvalidInput => {
                    tracing::info!(
                        error = %e,
                        "direct writes refused here; segments go through the page cache"
                    );
                    self.direct = None;
                }
                Err(e) => return Err(e),
            }
        }
        self.file.write_all_at(blocks, offset)
    }
}

/// A buffer for direct writes: [`CHUNK`] bytes at a block's start, allocated the first time
/// they are asked for and kept.
#[derive(Default)]
pub(super) struct Blocks {
    buffer: Vec<u8>,
}

impl Blocks {
    /// The aligned bytes; `None` if `align_offset` declines to say where they are (it may, in
    /// theory). The buffer is never reallocated, so the answer does not change.
    pub(super) fn get(&mut self) -> Option<&mut [u8]> {
        if self.buffer.is_empty() {
            self.buffer = vec![0; CHUNK + BLOCK];
        }
        let start = self.buffer.as_ptr().align_offset(BLOCK);
        self.buffer.get_mut(start..start.checked_add(CHUNK)?)
    }

    #[cfg(test)]
    pub(super) fn allocated(&self) -> usize {
        self.buffer.len()
    }
}

/// `len` rounded up to whole blocks.
pub(super) fn padded(len: usize) -> usize {
    len.next_multiple_of(BLOCK)
}
