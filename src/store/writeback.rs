//! Starting a file's writeback early, so that bytes bound for the disk go a little at a time
//! instead of all at once when the file is synced.

use std::fs::File;

/// Asks the kernel to start writing `len` bytes at `at` of `file` to the disk now, without
/// waiting.
///
/// Left alone, bytes written through the page cache stay dirty until their file is synced (or
/// the kernel's flusher takes them), and then go to the disk at once; every group commit's
/// `fdatasync` made meanwhile waits behind them. Written back as they came, payload segments
/// written through the page cache kept the system's dirty pages under ~1 MiB instead of 2-3,
/// and the 1 KB p99 at saturation went from 5.3-6.4 ms to 3.9-4.8; the log's table, saved
/// whole at each checkpoint (~20 MB for 200,000 executions kept), took a large log's p99 from
/// 8.7-10.4 ms to 4.0-4.5 (BENCHMARKS.md).
/// `POSIX_FADV_DONTNEED` is the call that does it without `unsafe` (rustix has no
/// `sync_file_range`): Linux starts the range's writeback, then drops the range's clean pages,
/// of which there are none yet, so the bytes stay cached. Only advice: a failure changes
/// nothing, and the sync that follows is still what makes the bytes durable.
pub(super) fn start(file: &File, at: u64, len: usize) {
    let len = std::num::NonZeroU64::new(len as u64);
    let _ = rustix::fs::fadvise(file, at, len, rustix::fs::Advice::DontNeed);
}
