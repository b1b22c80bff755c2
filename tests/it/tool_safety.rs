//! Issue 18, points 6 and 7, as the attacker did them, through the running hub: a tool that
//! runs `env` must not see the hub's tokens and keys (the real binary, started with them in its
//! environment), a payload value must not reach a program as an option, and a missing value
//! must fail the run instead of becoming an empty argument. The agent's tool calls get the same
//! checks as hooks.

use crate::common;

use std::path::Path;
use std::time::Duration;

use common::binary::{Binary, free_port};
use common::llm::{Llm, call, text};
use common::{Hub, accepted_ids, github_signature};
use serde_json::{Value, json};

const SECRET: &str = "s3cret";

/// A value no tool output could contain by chance.
fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

fn env_config(data: &Path, llm: &Llm) -> String {
    format!(
        r#"
server: {{ dataDir: "{data}" }}
admin: {{ token: "${{HOOKHUB_ADMIN_TOKEN}}" }}
agent:
  baseUrl: "{llm}"
  model: m
  apiKey: "${{OPENAI_API_KEY}}"
  roles:
    ops: {{ systemPrompt: You run tools., tools: [dump_env] }}
tools:
  dump_env: {{ command: [/usr/bin/env], env: {{ OWN: mine }} }}
  dump_all: {{ command: [/usr/bin/env], inheritEnv: true }}
  show_umask: {{ command: [/bin/sh, -c, umask] }}
hooks:
  - id: umask
    triggerConfig: {{ webhookPath: umask, webhookSecret: {SECRET} }}
    action: execute_tool
    actionConfig: {{ toolId: show_umask }}
  - id: env
    triggerConfig: {{ webhookPath: env, webhookSecret: {SECRET} }}
    action: execute_tool
    actionConfig: {{ toolId: dump_env }}
  - id: env-all
    triggerConfig: {{ webhookPath: env-all, webhookSecret: {SECRET} }}
    action: execute_tool
    actionConfig: {{ toolId: dump_all }}
  - id: agent
    triggerConfig: {{ webhookPath: agent, webhookSecret: {SECRET} }}
    action: spawn_agent
    actionConfig: {{ agentPrompt: Look., orchestrated: true, agentTopic: ops }}
"#,
        data = data.display(),
        llm = llm.url,
    )
}

/// Delivers `{}` to `path` on the binary and returns the execution once it is final.
async fn run_on(hub: &Binary, token: &str, path: &str) -> Value {
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/api/webhooks/{path}", hub.url))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", github_signature(SECRET, b"{}"))
        .body("{}")
        .send()
        .await
        .unwrap();
    let id = accepted_ids(response).await.remove(0);
    for _ in 0..200 {
        let execution: Value = client
            .get(format!("{}/api/executions/{id}", hub.url))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if ["succeeded", "failed"].contains(&execution["status"].as_str().unwrap_or("")) {
            return execution;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{path} never finished: {}", hub.log_text());
}

#[tokio::test]
async fn issue18_6_a_tool_running_env_sees_none_of_the_hubs_secrets() {
    let llm = Llm::start(vec![call("dump_env", json!({})), text("done")]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hooks.yaml");
    std::fs::write(&config, env_config(&dir.path().join("data"), &llm)).unwrap();
    let admin = unique("admin-token");
    let secrets = [
        ("HOOKHUB_ADMIN_TOKEN", admin.clone()),
        ("TELEGRAM_BOT_TOKEN", unique("bot-token")),
        ("SLACK_SIGNING_SECRET", unique("signing-secret")),
        ("OPENAI_API_KEY", unique("sk-model-key")),
    ];
    let env: Vec<(&str, &str)> = secrets.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let hub = Binary::start_with_env(&config, free_port(), dir.path(), &env).await;

    let leaked = |text: &str| -> Vec<&str> {
        secrets
            .iter()
            .filter(|(_, v)| text.contains(v.as_str()))
            .map(|(k, _)| *k)
            .collect()
    };
    // Run by a hook: what the execution log and the API show.
    let execution = run_on(&hub, &admin, "env").await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    let stdout = execution["output"]["stdout"].as_str().unwrap();
    assert_eq!(
        leaked(&execution.to_string()),
        Vec::<&str>::new(),
        "{stdout}"
    );
    assert!(stdout.contains("HOOKHUB_HOOK_ID=env\n"), "{stdout}");
    assert!(stdout.contains("OWN=mine\n"), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("PATH=")), "{stdout}");

    // Run by the agent: what the model is told.
    let execution = run_on(&hub, &admin, "agent").await;
    assert_eq!(execution["status"], "succeeded", "{execution:#}");
    let requests = llm.requests();
    let messages = requests[1]["messages"].as_array().unwrap();
    let answer = messages.last().unwrap()["content"].as_str().unwrap();
    assert!(answer.contains("HOOKHUB_HOOK_ID=agent"), "{answer}");
    assert_eq!(leaked(answer), Vec::<&str>::new(), "{answer}");
    assert_eq!(leaked(&execution.to_string()), Vec::<&str>::new());

    // The hub really had them: a tool that opts in sees every one.
    let execution = run_on(&hub, &admin, "env-all").await;
    let stdout = execution["output"]["stdout"].as_str().unwrap();
    assert_eq!(leaked(stdout).len(), secrets.len(), "{stdout}");

    // The hub keeps its own files private (umask 077); a tool runs with the umask the hub
    // was started with, here this test's.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let ours = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .unwrap()
        .trim();
    let execution = run_on(&hub, &admin, "umask").await;
    let stdout = execution["output"]["stdout"].as_str().unwrap();
    assert_eq!(stdout.trim(), ours, "{execution:#}");
}

fn args_config(dir: &Path, llm: &Llm) -> String {
    let dir = dir.display();
    format!(
        r#"
server: {{ dataDir: "{{data}}" }}
admin: {{ token: test-admin-token }}
agent:
  baseUrl: "{llm}"
  model: m
  roles:
    ops: {{ systemPrompt: You run tools., tools: [agent_sort, agent_clean] }}
tools:
  sort: {{ command: [/usr/bin/sort, "{{{{webhook.body.file}}}}"], workingDir: "{dir}" }}
  sort_sh: {{ command: ["/usr/bin/sort {{{{webhook.body.file}}}}"], shell: true }}
  clean: {{ command: [/bin/rm, -rf, "{dir}/builds/{{{{webhook.body.branch}}}}"] }}
  agent_sort: {{ command: [/usr/bin/sort, "{{{{params.file}}}}"], workingDir: "{dir}" }}
  agent_clean: {{ command: [/bin/rm, -rf, "{dir}/builds/{{{{params.branch}}}}"] }}
hooks:
  - id: sort
    triggerConfig: {{ webhookPath: sort, webhookSecret: {SECRET} }}
    action: execute_tool
    actionConfig: {{ toolId: sort }}
  - id: sort-sh
    triggerConfig: {{ webhookPath: sort-sh, webhookSecret: {SECRET} }}
    action: execute_tool
    actionConfig: {{ toolId: sort_sh }}
  - id: clean
    triggerConfig: {{ webhookPath: clean, webhookSecret: {SECRET} }}
    action: execute_tool
    actionConfig: {{ toolId: clean }}
  - id: agent
    triggerConfig: {{ webhookPath: agent, webhookSecret: {SECRET} }}
    action: spawn_agent
    actionConfig: {{ agentPrompt: Go., orchestrated: true, agentTopic: ops }}
"#,
        llm = llm.url,
    )
}

/// The hub with [`args_config`], a scratch dir holding `builds/keep.txt`, and the model double.
async fn start_args(script: Vec<common::llm::Reply>) -> (Hub, Llm, tempfile::TempDir) {
    let llm = Llm::start(script).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("builds/feature")).unwrap();
    std::fs::write(dir.path().join("builds/keep.txt"), "keep").unwrap();
    let data = dir.path().join("data");
    let hub = Hub::start(&args_config(dir.path(), &llm), &data, None).await;
    (hub, llm, dir)
}

async fn run(hub: &Hub, path: &str, body: Value, status: &str) -> Value {
    let ids = accepted_ids(hub.deliver(path, SECRET, &body.to_string()).await).await;
    hub.wait_for_status(&ids[0], status).await
}

fn error(execution: &Value) -> &str {
    execution["error"].as_str().unwrap()
}

#[tokio::test]
async fn issue18_7_an_option_in_the_payload_never_reaches_the_tool() {
    let (hub, _llm, dir) = start_args(vec![]).await;
    let marker = dir.path().join("owned.txt");
    let body = json!({ "file": format!("--output={}", marker.display()) });

    let e = run(&hub, "sort", body.clone(), "failed").await;
    let expected = format!(
        "argument_is_an_option: tools.sort.command[1] renders to \"--output={}\", which \
         /usr/bin/sort would read as an option; put \"--\" before it or set allowOptionArgs: true",
        marker.display()
    );
    assert_eq!(error(&e), expected);
    assert_eq!(
        e["attempts"][0]["detail"]["argv"],
        Value::Null,
        "nothing ran"
    );

    let e = run(&hub, "sort-sh", body, "failed").await;
    assert!(
        error(&e).starts_with("argument_is_an_option: tools.sort_sh.command: a value renders to"),
        "{e:#}"
    );
    assert!(!marker.exists(), "sort took the payload's --output");
    // An ordinary value still runs: sort is told a file that is not there.
    let e = run(&hub, "sort", json!({"file": "missing.txt"}), "failed").await;
    assert!(error(&e).contains("exited with code 2"), "{e:#}");
    hub.stop().await;
}

#[tokio::test]
async fn issue18_7_a_missing_value_fails_the_run_instead_of_becoming_empty() {
    let (hub, _llm, dir) = start_args(vec![]).await;
    let builds = dir.path().join("builds");
    for body in [json!({}), json!({"branch": null})] {
        let e = run(&hub, "clean", body, "failed").await;
        assert!(
            error(&e).starts_with(
                "param_missing: tools.clean.command[2]: `webhook.body.branch` is missing or null"
            ),
            "{e:#}"
        );
        assert_eq!(
            e["attempts"][0]["detail"]["argv"],
            Value::Null,
            "nothing ran"
        );
    }
    assert!(builds.join("keep.txt").exists(), "rm -rf ran on builds/");
    run(&hub, "clean", json!({"branch": "feature"}), "succeeded").await;
    assert!(!builds.join("feature").exists());
    assert!(builds.join("keep.txt").exists());
    hub.stop().await;
}

#[tokio::test]
async fn issue18_7_the_agents_tool_calls_get_the_same_checks() {
    let dir_marker = "owned-by-model.txt";
    let (hub, llm, dir) = start_args(vec![
        call(
            "agent_sort",
            json!({ "file": format!("--output={dir_marker}") }),
        ),
        call("agent_clean", json!({})),
        call("agent_clean", json!({ "branch": null })),
        text("gave up"),
    ])
    .await;
    let e = run(&hub, "agent", json!({}), "succeeded").await;
    assert_eq!(e["output"], "gave up");
    let answers: Vec<String> = llm.requests()[1..4]
        .iter()
        .map(|r| {
            let last = r["messages"].as_array().unwrap().last().unwrap();
            last["content"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(
        answers[0].starts_with(
            "error: argument_is_an_option: tools.agent_sort.command[1] renders to \"--output="
        ),
        "{answers:?}"
    );
    for answer in &answers[1..] {
        assert!(
            answer.starts_with(
                "error: param_missing: tools.agent_clean.command[2]: `params.branch` is missing"
            ),
            "{answers:?}"
        );
    }
    assert!(dir.path().join("builds/keep.txt").exists());
    assert!(
        !dir.path().join(dir_marker).exists(),
        "sort took the model's --output"
    );
    hub.stop().await;
}
