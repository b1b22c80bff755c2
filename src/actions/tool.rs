//! The `execute_tool` action: run a command defined under `tools:` in the config file (SPEC §6).
//!
//! A hook only names a tool; the command itself comes from the config file, so the API and UI
//! can never make the hub run something new. Every argv template renders into exactly one
//! argument and no shell is involved, so payload text cannot become syntax; a tool that wants a
//! shell says `shell: true` and then every value is single-quoted. Payload text cannot become
//! an option either: an argument that begins with `-` because of a rendered value fails the
//! attempt (`argument_is_an_option`) unless it follows a literal `--` or the tool allows it, and
//! a template naming a missing value fails it (`param_missing`) rather than run the command
//! with an empty string. Nothing is started when either check fails.
//!
//! A tool starts with a clean environment (`PATH`, `HOME`, `LANG`, `TZ`, the delivery's
//! `HOOKHUB_*` variables and its own `env`): the hub's environment holds its admin token, bot
//! tokens and API keys, and a tool that runs `env` must not print them into the execution log.
//! `inheritEnv: true` opts in to the whole environment. The tool runs in its own process group
//! so a timeout kills everything it started. Tools are never retried: they may not be
//! idempotent.

use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;
use tokio::task::JoinHandle;

use super::{ActionEnv, Outcome, Report, Run, report};
use crate::config::ToolDef;
use crate::hooks::ToolAction;
use crate::template;
use argv::{render_argv, template_error};

/// What a tool keeps of the hub's environment unless `inheritEnv: true`.
const KEPT_ENV: [&str; 4] = ["PATH", "HOME", "LANG", "TZ"];

/// How much of stdout and of stderr is kept, each.
const OUTPUT_CAP: usize = 64 * 1024;
/// How long to keep reading output after the tool exits: a background process it left behind
/// may hold the pipes open forever, and must not hold the execution with them.
const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// A command ready to start.
struct Prepared<'a> {
    tool_id: &'a str,
    tool: &'a ToolDef,
    argv: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Vec<u8>,
}

/// How the command ended.
struct Finished {
    status: Option<ExitStatus>,
    timed_out: bool,
    stdout: Captured,
    stderr: Captured,
}

/// The head of one output stream.
#[derive(Debug, Default, Clone)]
struct Captured {
    bytes: Vec<u8>,
    truncated: bool,
}

impl Captured {
    fn push(&mut self, chunk: &[u8]) {
        let room = OUTPUT_CAP - self.bytes.len();
        if chunk.len() > room {
            self.truncated = true;
        }
        self.bytes
            .extend_from_slice(&chunk[..chunk.len().min(room)]);
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// Runs one attempt of the hook's tool.
pub(super) async fn execute(env: &ActionEnv, run: Run<'_>, action: &ToolAction) -> Report {
    let started_at = env.clock.now_ms();
    let started = Instant::now();
    let (detail, outcome) = run_prepared(prepare(run, action)).await;
    report(started_at, started, detail, outcome)
}

/// Runs `tool_id` (its named `action`, if given) for an agent, with `params` taken as they are:
/// values, never templates, so a model's text cannot reach into the context. Returns the
/// detail and outcome an `execute_tool` attempt would record.
pub(crate) async fn run_tool(
    run: Run<'_>,
    tool_id: &str,
    action: Option<&str>,
    params: serde_json::Map<String, Value>,
) -> (Value, Outcome) {
    run_prepared(prepare_tool(run, tool_id, action, params)).await
}

/// Why a tool was not run, or did not start. The text says what to fix.
#[derive(Debug, thiserror::Error)]
enum ToolError {
    /// A template did not render, or rendered a value that is refused.
    #[error(transparent)]
    Argv(#[from] argv::ArgvError),
    #[error("unknown tool `{0}`: tools are defined under `tools:` in the config file")]
    Unknown(String),
    #[error("tool `{tool}` has no action `{action}` (it has: {known})")]
    NoSuchAction {
        tool: String,
        action: String,
        known: String,
    },
    #[error("tool `{0}` has several actions; set actionConfig.toolAction")]
    NoActionChosen(String),
    #[error("tool `{0}` has an empty command")]
    EmptyCommand(String),
    #[error("could not start tool `{tool}` ({program}): {error}")]
    Start {
        tool: String,
        program: String,
        error: std::io::Error,
    },
}

/// The attempt's detail and outcome for a command as prepared: run it, or say why not.
async fn run_prepared(prepared: Result<Prepared<'_>, ToolError>) -> (Value, Outcome) {
    let prepared = match prepared {
        Ok(prepared) => prepared,
        Err(error) => return not_run(Value::Null, error),
    };
    match run_command(&prepared).await {
        Ok(finished) => judge(&prepared, &finished),
        Err(error) => not_run(json!(prepared.argv), error),
    }
}

fn not_run(argv: Value, error: ToolError) -> (Value, Outcome) {
    let error = error.to_string();
    (
        json!({ "argv": argv, "error": error }),
        Outcome::Failed { error },
    )
}

/// The hook's tool, with `toolParams` rendered from the delivery.
fn prepare<'a>(run: Run<'a>, action: &'a ToolAction) -> Result<Prepared<'a>, ToolError> {
    let context = template::context(run.hook, run.execution, run.attempt);
    let mut params = serde_json::Map::new();
    for (name, value) in &action.params {
        let rendered = template::render_strict(value, &context)
            .map_err(|e| template_error(&format!("actionConfig.toolParams.{name}"), e))?;
        params.insert(name.clone(), Value::String(rendered));
    }
    prepare_tool(run, &action.tool_id, action.tool_action.as_deref(), params)
}

/// Looks the tool up and renders its argv and environment with `params` as `{{params.*}}`.
/// The error says what to fix.
fn prepare_tool<'a>(
    run: Run<'a>,
    tool_id: &'a str,
    action: Option<&str>,
    params: serde_json::Map<String, Value>,
) -> Result<Prepared<'a>, ToolError> {
    let tool = run
        .config
        .tools
        .get(tool_id)
        .ok_or_else(|| ToolError::Unknown(tool_id.to_string()))?;
    let (field, command) = pick_command(tool_id, tool, action)?;
    let mut context = template::context(run.hook, run.execution, run.attempt);
    context["params"] = Value::Object(params);

    let argv = render_argv(&field, tool, command, &context)?;
    let mut env = hookhub_env(run);
    for (name, value) in &tool.env {
        let rendered = template::render_strict(value, &context)
            .map_err(|e| template_error(&format!("tools.{tool_id}.env.{name}"), e))?;
        env.push((name.clone(), rendered));
    }
    let stdin = serde_json::to_vec(&run.execution.trigger.body).unwrap_or_default();
    Ok(Prepared {
        tool_id,
        tool,
        argv,
        env,
        stdin,
    })
}

/// The argv templates, and the config field they come from: the named action's, or the
/// tool's own `command`.
fn pick_command<'t>(
    tool_id: &str,
    tool: &'t ToolDef,
    action: Option<&str>,
) -> Result<(String, &'t [String]), ToolError> {
    let (field, command) = match action {
        Some(name) => {
            let chosen = tool.actions.get(name).ok_or_else(|| {
                let known: Vec<_> = tool.actions.keys().map(String::as_str).collect();
                ToolError::NoSuchAction {
                    tool: tool_id.to_string(),
                    action: name.to_string(),
                    known: known.join(", "),
                }
            })?;
            (
                format!("tools.{tool_id}.actions.{name}.command"),
                &chosen.command,
            )
        }
        None if tool.command.is_empty() && !tool.actions.is_empty() => {
            return Err(ToolError::NoActionChosen(tool_id.to_string()));
        }
        None => (format!("tools.{tool_id}.command"), &tool.command),
    };
    if command.is_empty() {
        return Err(ToolError::EmptyCommand(tool_id.to_string()));
    }
    Ok((field, command))
}

/// The `HOOKHUB_*` variables describing the delivery.
fn hookhub_env(run: Run<'_>) -> Vec<(String, String)> {
    let exe = run.execution;
    [
        ("HOOKHUB_HOOK_ID", run.hook.id.clone()),
        ("HOOKHUB_EXECUTION_ID", exe.id.to_string()),
        ("HOOKHUB_ATTEMPT", run.attempt.to_string()),
        (
            "HOOKHUB_EVENT_TYPE",
            exe.event_type.clone().unwrap_or_default(),
        ),
        (
            "HOOKHUB_DELIVERY_ID",
            exe.delivery_id.clone().unwrap_or_default(),
        ),
        ("HOOKHUB_PATH", exe.trigger.path.clone()),
        ("HOOKHUB_METHOD", exe.trigger.method.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// The command of `p`, in its own process group, with the clean environment of the module doc
/// unless the tool inherits the hub's.
fn command(p: &Prepared<'_>) -> Command {
    let mut command = Command::new(&p.argv[0]);
    if !p.tool.inherit_env {
        command.env_clear();
        for name in KEPT_ENV {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
    }
    command
        .args(&p.argv[1..])
        .envs(p.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = &p.tool.working_dir {
        command.current_dir(dir);
    }
    command
}

/// Starts the command in its own process group, feeds stdin, captures output, and enforces
/// the timeout. `Err` only when the command could not be started.
async fn run_command(p: &Prepared<'_>) -> Result<Finished, ToolError> {
    let mut child = spawn::spawn(command(p))
        .await
        .map_err(|error| ToolError::Start {
            tool: p.tool_id.to_string(),
            program: p.argv[0].clone(),
            error,
        })?;
    let pgid = child.id();

    let stdin = child.stdin.take().map(|mut pipe| {
        let payload = p.stdin.clone();
        // A tool that never reads stdin closes the pipe on exit; that broken pipe is fine.
        tokio::spawn(async move {
            let _ = pipe.write_all(&payload).await;
        })
    });
    let (stdout, stdout_task) = capture(child.stdout.take());
    let (stderr, stderr_task) = capture(child.stderr.take());

    let (status, timed_out) = match tokio::time::timeout(p.tool.timeout, child.wait()).await {
        Ok(status) => (status.ok(), false),
        Err(_) => {
            if let Some(pgid) = pgid {
                kill_process_group(pgid);
            }
            (child.wait().await.ok(), true)
        }
    };
    finish_io(stdin, [stdout_task, stderr_task]).await;
    let take = |c: &Arc<Mutex<Captured>>| c.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(Finished {
        status,
        timed_out,
        stdout: take(&stdout),
        stderr: take(&stderr),
    })
}

/// Reads `pipe` to its end in a task, keeping the first [`OUTPUT_CAP`] bytes and discarding the
/// rest, so the tool never blocks on a full pipe. The buffer is shared so whatever was read is
/// still there if the task has to be abandoned.
fn capture<R>(pipe: Option<R>) -> (Arc<Mutex<Captured>>, JoinHandle<()>)
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let shared = Arc::new(Mutex::new(Captured::default()));
    let sink = shared.clone();
    let task = tokio::spawn(async move {
        let Some(mut pipe) = pipe else { return };
        let mut buf = vec![0; 16 * 1024];
        while let Ok(n @ 1..) = pipe.read(&mut buf).await {
            sink.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(&buf[..n]);
        }
    });
    (shared, task)
}

/// Lets the readers reach the end of output for up to [`DRAIN_GRACE`], then abandons them and
/// the stdin writer, whose pipes a leftover background process may be holding open.
async fn finish_io(stdin: Option<JoinHandle<()>>, readers: [JoinHandle<()>; 2]) {
    let aborts: Vec<_> = readers.iter().map(JoinHandle::abort_handle).collect();
    let drained = tokio::time::timeout(DRAIN_GRACE, async {
        for reader in readers {
            let _ = reader.await;
        }
    })
    .await;
    if drained.is_err() {
        aborts.iter().for_each(|a| a.abort());
    }
    if let Some(stdin) = stdin {
        stdin.abort();
    }
}

/// Sends SIGKILL to every process in group `pgid`: the tool and anything it started.
///
/// `unsafe` because `killpg` is a C call; it only takes two integers and touches no memory of
/// ours. `pgid` is the tool's pid (it leads its own group) and the tool has not been reaped
/// yet, so the id cannot have been reused by an unrelated group. Refusing 0 and 1 guards against
/// signalling our own group or every process.
#[allow(unsafe_code)]
fn kill_process_group(pgid: u32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    if pgid > 1 {
        // SAFETY: see above; an already-gone group only makes killpg return ESRCH.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
    }
}

/// The attempt's detail and outcome: exit 0 succeeds; anything else fails for good.
fn judge(p: &Prepared<'_>, f: &Finished) -> (Value, Outcome) {
    use std::os::unix::process::ExitStatusExt as _;
    let exit_code = f.status.and_then(|s| s.code());
    let signal = f.status.and_then(|s| s.signal());
    let detail = json!({
        "argv": p.argv,
        "exitCode": exit_code,
        "signal": signal,
        "timedOut": f.timed_out,
        "stdout": f.stdout.text(),
        "stderr": f.stderr.text(),
        "stdoutTruncated": f.stdout.truncated,
        "stderrTruncated": f.stderr.truncated,
    });
    let tool = p.tool_id;
    let error = match (f.timed_out, exit_code, signal) {
        (true, ..) => format!(
            "tool `{tool}` timed out after {} and was killed",
            humantime::format_duration(p.tool.timeout)
        ),
        (false, Some(0), _) => {
            let output = json!({
                "exitCode": 0,
                "stdout": detail["stdout"],
                "stderr": detail["stderr"],
            });
            return (
                detail,
                Outcome::Succeeded {
                    output: Some(output),
                },
            );
        }
        (false, Some(code), _) => format!("tool `{tool}` exited with code {code}"),
        (false, None, Some(sig)) => format!("tool `{tool}` was killed by signal {sig}"),
        (false, None, None) => format!("tool `{tool}` ended without an exit status"),
    };
    (detail, Outcome::Failed { error })
}

#[path = "tool_argv.rs"]
mod argv;
#[path = "tool_spawn.rs"]
mod spawn;

#[cfg(test)]
#[path = "tool_tests.rs"]
mod tests;
