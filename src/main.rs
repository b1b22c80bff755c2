// mimalloc instead of glibc's malloc: about a seventh less CPU per delivery (BENCHMARKS.md,
// "allocator").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay`, the 16th entry of `mi_option_e` in mimalloc.h (libmimalloc-sys
/// names only some options).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() {
    // Memory freed is given back to the OS after 1 s (mimalloc v3's own default, set here so a
    // new crate version cannot change it unseen). It was 10 ms, to keep a flood's peak down when
    // the hub held more; but the records an overlay then held, freed a quarter of a second
    // after they were made, were given back and faulted in again: 0.59 page faults a
    // delivery (0.03 now) and the madvise calls before them, ~10% of the hub's CPU a delivery
    // at saturation. The 30 s flood peaks at 24-29 MiB instead of 19-26 (BENCHMARKS.md).
    // `MIMALLOC_PURGE_DELAY` still overrides it.
    #[allow(unsafe_code)]
    // SAFETY: sets a plain integer option; mimalloc reads options atomically, at any time.
    unsafe {
        libmimalloc_sys::mi_option_set_default(MI_OPTION_PURGE_DELAY, 1000);
    }
    std::process::exit(hookhub::main());
}
