//! Issue 18, point 6, as the attacker did it, through the running hub: a tool that runs `env`
//! must not see the hub's tokens and keys (the real binary, started with them in its
//! environment), whether a hook or the agent runs it.

mod common;

use std::path::Path;
use std::time::Duration;

use common::binary::{Binary, free_port};
use common::llm::{Llm, call, text};
use common::{accepted_ids, github_signature};
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
hooks:
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
}
