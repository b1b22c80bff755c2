//! The `hookhub` binary: everything lives in the library; see `hookhub::cli`.

// glibc's allocator was ~15 % of the hub's CPU under load (many small, short-lived buffers per
// request); mimalloc handles that pattern with far fewer locks and trips to the kernel.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(hookhub::cli::main());
}
