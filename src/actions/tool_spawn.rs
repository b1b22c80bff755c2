//! Starting a tool's process cheaply, with its owner's umask.
//!
//! `hookhub serve` runs under umask 077 (`crate::store::keep_new_files_private`) so the files
//! sled makes are private, but a tool should make files the way its owner expects. Setting the
//! umask in the child (`Command::pre_exec`) forces the standard library to `fork` the whole hub:
//! the kernel copies the page tables of every thread's memory, and each page the hub then
//! writes takes a copy-on-write fault while the child execs. Under a flood of `/bin/true` runs
//! that held the hub to 330 completed runs a second; started as below, 730 (BENCHMARKS.md).
//!
//! Linux keeps the umask in a thread's filesystem context, which `unshare(CLONE_FS)` gives one
//! thread of its own. So every tool is started from one thread (`hookhub-spawn`) whose umask is
//! the owner's; with no `pre_exec` left, the standard library starts the command with
//! `posix_spawn` (a `vfork`-style clone that copies nothing), and the child inherits that
//! thread's umask. Starts queue for that one thread; each takes well under a millisecond (the
//! clone and the `exec`), and the tool then runs on its own. Where the umask was
//! never changed (tests embedding the hub) commands start on the caller.

use std::io;
use std::sync::OnceLock;
use std::sync::mpsc;

use tokio::process::{Child, Command};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// A command to start, the runtime its pipes and exit belong to, and where to answer.
type Job = (Command, Handle, oneshot::Sender<io::Result<Child>>);

/// Starts `command` with the umask the hub was started with.
pub(super) async fn spawn(mut command: Command) -> io::Result<Child> {
    let Some(spawner) = spawner() else {
        return command.spawn();
    };
    let (reply, answer) = oneshot::channel();
    spawner
        .send((command, Handle::current(), reply))
        .map_err(|_| io::Error::other("the tool spawner thread is gone"))?;
    answer
        .await
        .map_err(|_| io::Error::other("the tool spawner thread is gone"))?
}

/// The spawner thread's queue, started at first use; `None` when the process umask is the
/// owner's already.
fn spawner() -> Option<&'static mpsc::Sender<Job>> {
    static SPAWNER: OnceLock<Option<mpsc::Sender<Job>>> = OnceLock::new();
    SPAWNER
        .get_or_init(|| {
            let mask = crate::store::original_umask()?;
            let (tx, rx) = mpsc::channel::<Job>();
            let started = std::thread::Builder::new()
                .name("hookhub-spawn".into())
                .spawn(move || run(mask, &rx));
            match started {
                Ok(_) => Some(tx),
                Err(e) => {
                    tracing::warn!(error = %e, "could not start the tool spawner thread");
                    None
                }
            }
        })
        .as_ref()
}

fn run(mask: u32, jobs: &mpsc::Receiver<Job>) {
    if let Err(e) = own_umask(mask) {
        // Every job is answered with the error: a tool must not run with the hub's umask.
        for (_, _, reply) in jobs {
            let _ = reply.send(Err(io::Error::new(e.kind(), e.to_string())));
        }
        return;
    }
    for (mut command, runtime, reply) in jobs {
        let _in_runtime = runtime.enter();
        let _ = reply.send(command.spawn());
    }
}

/// Gives this thread a filesystem context of its own (working directory, root, umask) and sets
/// its umask to `mask`; the rest of the process keeps 077.
#[allow(unsafe_code)]
fn own_umask(mask: u32) -> io::Result<()> {
    // SAFETY: unshare(CLONE_FS) takes one integer and touches no memory of ours; it only
    // detaches this thread's cwd/root/umask from the other threads' (file descriptors stay
    // shared, unlike CLONE_FILES).
    if unsafe { libc::unshare(libc::CLONE_FS) } != 0 {
        return Err(io::Error::last_os_error());
    }
    crate::store::restore_umask(mask);
    Ok(())
}
