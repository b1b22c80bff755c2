// The allocator is unsafe code by nature: each block below says why its calls are sound.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};

use mimalloc::MiMalloc;

// mimalloc instead of glibc's malloc: about a seventh less CPU per delivery (BENCHMARKS.md,
// "allocator"), with large zeroed blocks taken fresh from the OS (see `Allocator`).
#[global_allocator]
static GLOBAL: Allocator = Allocator;

/// `mi_option_purge_delay`, the 16th entry of `mi_option_e` in mimalloc.h (libmimalloc-sys
/// names only some options).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The size from which a zeroed allocation is mapped from the OS (glibc's own threshold is
/// 128 KiB).
const FRESH_ZEROED: usize = 256 << 10;
/// What `mmap` aligns to at least.
const PAGE: usize = 4096;

/// mimalloc, except that a zeroed block of [`FRESH_ZEROED`] or more is mapped from the OS.
///
/// mimalloc knows memory is zero only when it is new from the OS; a zeroed block carved from
/// memory it used before is filled with zeros, which makes every page of it resident. sled
/// makes 42 metric histograms of 512 KiB at open, zeroed and hardly ever written. With 30
/// hooks or more in the config file they landed in memory used before (by the file's parse, it
/// seems) and were filled: 100 hooks idled at 28-29 MiB instead of 16 (BENCHMARKS.md). Fresh
/// pages stay untouched until written, as with glibc, which maps such blocks itself.
struct Allocator;

impl Allocator {
    /// Whether the block at `ptr`, allocated with `layout`, was mapped by `alloc_zeroed` and not
    /// made by mimalloc.
    fn mapped(ptr: *mut u8, layout: Layout) -> bool {
        // SAFETY: mimalloc only looks `ptr` up in its page map; it reads no memory at `ptr`.
        layout.size() >= FRESH_ZEROED
            && !unsafe { libmimalloc_sys::mi_is_in_heap_region(ptr.cast()) }
    }
}

// SAFETY: every block is either mimalloc's, handled by mimalloc, or an anonymous mapping of at
// least `layout.size()` bytes, page-aligned (so aligned for any `layout.align()` up to a page),
// zeroed by the kernel, and unmapped exactly once, by `dealloc` or `realloc`.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { MiMalloc.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() < FRESH_ZEROED || layout.align() > PAGE {
            // SAFETY: the caller's contract is passed on unchanged.
            return unsafe { MiMalloc.alloc_zeroed(layout) };
        }
        // SAFETY: a new private anonymous mapping; it touches no existing memory.
        let block = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                layout.size(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if block == libc::MAP_FAILED {
            return std::ptr::null_mut();
        }
        block.cast()
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if Self::mapped(ptr, layout) {
            // SAFETY: `ptr` is a mapping of `layout.size()` bytes made by `alloc_zeroed` (the
            // caller passes the layout it was allocated with), unmapped here once.
            unsafe { libc::munmap(ptr.cast(), layout.size()) };
            return;
        }
        // SAFETY: `ptr` is mimalloc's; the caller's contract is passed on unchanged.
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !Self::mapped(ptr, layout) {
            // SAFETY: `ptr` is mimalloc's; the caller's contract is passed on unchanged.
            return unsafe { MiMalloc.realloc(ptr, layout, new_size) };
        }
        // SAFETY: the caller guarantees `new_size` with `layout.align()` is a valid layout.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: a new mimalloc block; the old mapping is read for the bytes both hold, then
        // unmapped once (on failure it stays, as `realloc` requires).
        unsafe {
            let moved = MiMalloc.alloc(new_layout);
            if !moved.is_null() {
                std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                libc::munmap(ptr.cast(), layout.size());
            }
            moved
        }
    }
}

fn main() {
    // Memory freed is given back to the OS after 1 s (mimalloc v3's own default, set here so a
    // new crate version cannot change it unseen). It was 10 ms, to keep a flood's peak down when
    // the hub held more; but the records an overlay then held, freed a quarter of a second
    // after they were made, were given back and faulted in again: 0.59 page faults a
    // delivery (0.03 now) and the madvise calls before them, ~10% of the hub's CPU a delivery
    // at saturation. The 30 s flood peaks at 24-29 MiB instead of 19-26 (BENCHMARKS.md).
    // `MIMALLOC_PURGE_DELAY` still overrides it.
    // SAFETY: sets a plain integer option; mimalloc reads options atomically, at any time.
    unsafe {
        libmimalloc_sys::mi_option_set_default(MI_OPTION_PURGE_DELAY, 1000);
    }
    std::process::exit(hookhub::main());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The blocks `Allocator` maps itself, the way `vec![0; n]` and a `Vec` grown from it use
    /// them: zeroed, writable, moved whole to mimalloc when resized, unmapped when dropped.
    #[test]
    fn large_zeroed_blocks_are_mapped_and_move_to_mimalloc_when_resized() {
        let layout = Layout::from_size_align(FRESH_ZEROED, 8).unwrap();
        // SAFETY: each block is used within its layout and freed once, with that layout.
        unsafe {
            let block = GLOBAL.alloc_zeroed(layout);
            assert!(!block.is_null());
            assert!(
                Allocator::mapped(block, layout),
                "a fresh mapping, not mimalloc's"
            );
            let bytes = std::slice::from_raw_parts_mut(block, layout.size());
            assert!(bytes.iter().all(|b| *b == 0));
            bytes[0] = 1;
            bytes[layout.size() - 1] = 2;

            let grown = GLOBAL.realloc(block, layout, 2 * FRESH_ZEROED);
            let grown_layout = Layout::from_size_align(2 * FRESH_ZEROED, 8).unwrap();
            assert!(!Allocator::mapped(grown, grown_layout), "moved to mimalloc");
            assert_eq!(*grown, 1);
            assert_eq!(*grown.add(layout.size() - 1), 2);
            GLOBAL.dealloc(grown, grown_layout);

            let again = GLOBAL.alloc_zeroed(layout);
            assert!(Allocator::mapped(again, layout));
            assert!(
                std::slice::from_raw_parts(again, layout.size())
                    .iter()
                    .all(|b| *b == 0)
            );
            GLOBAL.dealloc(again, layout);
        }
    }

    #[test]
    fn small_or_plain_blocks_are_mimallocs() {
        let small = Layout::from_size_align(FRESH_ZEROED - 1, 8).unwrap();
        // SAFETY: each block is freed once, with the layout it was made with.
        unsafe {
            let zeroed = GLOBAL.alloc_zeroed(small);
            assert!(
                std::slice::from_raw_parts(zeroed, small.size())
                    .iter()
                    .all(|b| *b == 0)
            );
            assert!(libmimalloc_sys::mi_is_in_heap_region(zeroed.cast()));
            GLOBAL.dealloc(zeroed, small);
            // Up to mimalloc's huge blocks, which it takes from the OS itself: still its own.
            for size in [FRESH_ZEROED, 4 << 20, 64 << 20] {
                let large = Layout::from_size_align(size, 8).unwrap();
                let plain = GLOBAL.alloc(large);
                assert!(
                    !Allocator::mapped(plain, large),
                    "{size}: only zeroed blocks are mapped"
                );
                GLOBAL.dealloc(plain, large);
            }
        }
        // And what the hub does with them, through the global allocator.
        let mut histogram = vec![0_usize; FRESH_ZEROED / 8];
        histogram[7] = 7;
        histogram.extend_from_slice(&[1; 1024]);
        assert_eq!(histogram[7] + histogram[histogram.len() - 1], 8);
    }
}
