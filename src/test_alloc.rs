//! The library tests' allocator: the system's, counting the bytes each thread has allocated
//! and not freed, so a test can tell whether something it calls keeps memory for good.

// An allocator is unsafe code by nature; each call passes its caller's contract on unchanged.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

#[global_allocator]
static GLOBAL: Counting = Counting;

thread_local! {
    /// Allocated minus freed on this thread (a block freed by another thread counts there).
    static HELD: Cell<isize> = const { Cell::new(0) };
}

/// The bytes this thread has allocated and not freed since it started.
pub fn held_by_this_thread() -> isize {
    HELD.with(Cell::get)
}

fn count(bytes: isize) {
    // During a thread's teardown its counter may be gone; nothing is counted then.
    let _ = HELD.try_with(|held| held.set(held.get() + bytes));
}

struct Counting;

// SAFETY: every call goes to `System` with its caller's arguments; the counting touches only
// a thread-local cell with a constant initialiser (no allocation, no destructor).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on unchanged.
        let block = unsafe { System.alloc(layout) };
        if !block.is_null() {
            count(layout.size() as isize);
        }
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on unchanged.
        let block = unsafe { System.alloc_zeroed(layout) };
        if !block.is_null() {
            count(layout.size() as isize);
        }
        block
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract is passed on unchanged.
        let block = unsafe { System.realloc(ptr, layout, new_size) };
        if !block.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        block
    }
}
