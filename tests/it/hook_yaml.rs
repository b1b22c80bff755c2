//! `?format=yaml` on `GET /api/hooks` and `GET /api/hooks/:id` (SPEC §8): hooks of every action
//! kind and both triggers, made through the API with every kind of secret, come back as a
//! `hooks:` list that the config loader and the real `hookhub check` accept as they are, with
//! each secret a `${VAR}` placeholder and never its value; with the variables set, the file
//! gives back the very hooks the API holds.

use crate::common;

use std::process::Command;

use common::Hub;
use common::llm::Llm;
use common::telegram::{self, Telegram};
use reqwest::Method;
use serde_json::{Value, json};

/// Everything but the hooks: what the exported list needs around it to load.
fn sections(telegram: &str, llm: &str) -> String {
    format!(
        r#"
server: {{ dataDir: "{{data}}" }}
admin: {{ token: test-admin-token }}
channels:
  telegram: {{ botToken: "{token}", apiUrl: "{telegram}" }}
agent:
  baseUrl: "{llm}"
  model: test-model
  roles:
    devops: {{ description: servers, systemPrompt: Be brief. }}
tools:
  deploy:
    command: [/bin/echo, "{{{{params.ref}}}}"]
    actions:
      restart: {{ command: [/bin/echo, restart, "{{{{params.service}}}}"] }}
"#,
        token = telegram::TOKEN,
    )
}

const FILE_HOOK: &str = r#"hooks:
  - id: from-file
    triggerConfig: { webhookPath: file, webhookSecret: file-secret-value }
    action: notify
    actionConfig: { notifyMessage: "from the file" }
"#;

// Every secret the hooks below are given; none may appear in the YAML.
const GITHUB_SECRET: &str = "gh-secret-4f1e";
const BEARER_SECRET: &str = "bearer-secret-9a7c";
const HMAC_SECRET: &str = "hmac-secret-31d0";
const SIGNING_SECRET: &str = "whsec_c2lnbmluZy1zZWNyZXQtdmFsdWUtMTIzNDU=";
const HEADER_VALUE: &str = "Bearer header-secret-77b2";
const URL_WITH_CREDENTIALS: &str = "https://user:url-pass-5e@example.com/in?token=url-token-6f";

/// One API hook of each action kind and trigger, between them every field the YAML can hold.
fn hooks() -> Vec<Value> {
    vec![
        json!({"id": "forward", "name": "Forward ${HOME} as is",
            "triggerConfig": {"webhookPath": "forward", "webhookSecret": GITHUB_SECRET,
                "events": ["push"], "filter": "body.ref != ''", "lockKey": "{{webhook.body.ref}}"},
            "action": "webhook",
            "actionConfig": {"webhookUrl": URL_WITH_CREDENTIALS, "webhookMethod": "PUT",
                "headers": {"Authorization": HEADER_VALUE, "X-Plain": "{{webhook.eventType}}"},
                "bodyTemplate": "{\"ref\": \"{{webhook.body.ref}}\", \"cost\": \"${5}\"}\nline two",
                "sign": "standard", "signingSecret": SIGNING_SECRET}}),
        json!({"id": "tell-me", "name": "Tell me",
            "triggerConfig": {"webhookPath": "tell", "scheme": "bearer", "webhookSecret": BEARER_SECRET,
                "methods": ["GET"], "mergeQuery": false},
            "action": "notify",
            "actionConfig": {"notifyMessage": "Got {{webhook.body.objectName}}", "channels": ["telegram"]}}),
        json!({"id": "ask", "name": "Ask the agent",
            "triggerConfig": {"webhookPath": "ask", "scheme": "hmac", "webhookSecret": HMAC_SECRET,
                "header": "X-Sig", "algorithm": "sha512", "encoding": "base64", "prefix": "v1=",
                "signedPayload": "{timestamp}.{body}", "timestampHeader": "X-Ts", "tolerance": "10m",
                "ipAllowlist": ["10.0.0.0/8"], "dedupeKey": "{{webhook.body.id}}"},
            "action": "spawn_agent",
            "actionConfig": {"agentPrompt": "Summarise.", "agentTopic": "devops",
                "orchestrated": true, "notifyOwner": true, "concurrency": 1}}),
        json!({"id": "run-tool", "name": "Run a tool",
            "triggerConfig": {"webhookPath": "tool", "scheme": "gitlab", "webhookSecret": "gitlab-token-0b"},
            "action": "execute_tool",
            "actionConfig": {"toolId": "deploy", "toolAction": "restart",
                "toolParams": {"service": "{{webhook.body.service}}"}, "retryOnCrash": true}}),
        json!({"id": "nightly", "name": "Nightly", "trigger": "schedule",
            "triggerConfig": {"cron": "0 6 * * *", "timezone": "Europe/Berlin"},
            "action": "notify", "actionConfig": {"notifyMessage": "Good morning"}}),
    ]
}

/// What each placeholder the export names stands for.
fn env(name: &str) -> Option<String> {
    let value = match name {
        "FORWARD_WEBHOOK_SECRET" => GITHUB_SECRET,
        "FORWARD_SIGNING_SECRET" => SIGNING_SECRET,
        "FORWARD_WEBHOOK_URL" => URL_WITH_CREDENTIALS,
        "FORWARD_HEADER_AUTHORIZATION" => HEADER_VALUE,
        "FORWARD_HEADER_X_PLAIN" => "{{webhook.eventType}}",
        "TELL_ME_WEBHOOK_SECRET" => BEARER_SECRET,
        "ASK_WEBHOOK_SECRET" => HMAC_SECRET,
        "RUN_TOOL_WEBHOOK_SECRET" => "gitlab-token-0b",
        "FROM_FILE_WEBHOOK_SECRET" => "file-secret-value",
        _ => return None,
    };
    Some(value.to_string())
}

async fn start() -> (Hub, tempfile::TempDir, String) {
    let (telegram, llm) = (Telegram::start().await, Llm::start(vec![]).await);
    let sections = sections(&telegram.url, &llm.url);
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&format!("{sections}{FILE_HOOK}"), dir.path(), None).await;
    for hook in hooks() {
        let made = hub
            .api(Method::POST, "/api/hooks")
            .json(&hook)
            .send()
            .await
            .unwrap();
        let status = made.status();
        assert_eq!(status, 201, "{hook}: {}", made.text().await.unwrap());
    }
    (hub, dir, sections)
}

async fn yaml(hub: &Hub, path: &str) -> String {
    let answer = hub.api(Method::GET, path).send().await.unwrap();
    assert_eq!(answer.status(), 200, "GET {path}");
    assert_eq!(
        answer.headers()["content-type"],
        "application/yaml; charset=utf-8"
    );
    answer.text().await.unwrap()
}

fn assert_no_secret_in(yaml: &str) {
    for secret in [
        GITHUB_SECRET,
        BEARER_SECRET,
        HMAC_SECRET,
        SIGNING_SECRET,
        "header-secret-77b2",
        "url-pass-5e",
        "url-token-6f",
        "gitlab-token-0b",
        "file-secret-value",
    ] {
        assert!(!yaml.contains(secret), "`{secret}` is in the YAML:\n{yaml}");
    }
}

#[tokio::test]
async fn the_list_as_yaml_loads_as_the_same_hooks_with_every_secret_a_placeholder() {
    let (hub, dir, sections) = start().await;
    let yaml = yaml(&hub, "/api/hooks?format=yaml").await;
    assert_no_secret_in(&yaml);
    for var in [
        "FORWARD_HEADER_AUTHORIZATION",
        "TELL_ME_WEBHOOK_SECRET",
        "FORWARD_WEBHOOK_URL",
    ] {
        assert!(
            yaml.contains(&format!("#   {var}: ")),
            "{var} is named:\n{yaml}"
        );
    }
    assert!(yaml.contains("the hub keeps only its hash"), "{yaml}");

    // The export is the file's whole `hooks:` list, the file hook included.
    let text = format!("{sections}{yaml}").replace("{data}", &dir.path().display().to_string());
    let config =
        hookhub::load_str(&text, "exported.yaml", &env).unwrap_or_else(|e| panic!("{e}\n{text}"));
    // The file hook first, then the API's hooks by id, as the API lists them.
    let ids: Vec<&str> = config.hooks.iter().map(|h| h.id.as_str()).collect();
    let listed = [
        "from-file",
        "ask",
        "forward",
        "nightly",
        "run-tool",
        "tell-me",
    ];
    assert_eq!(ids, listed);
    let hook = |id: &str| config.hooks.iter().find(|h| h.id == id).unwrap();

    // Each loaded hook is the hook the API shows, and has the secrets the API was given.
    for loaded in &config.hooks[1..] {
        let shown = hub.get_json(&format!("/api/hooks/{}", loaded.id)).await;
        let mut reloaded = serde_json::to_value(loaded).unwrap();
        reloaded["triggerConfig"]
            .as_object_mut()
            .unwrap()
            .remove("webhookSecret");
        reloaded["actionConfig"]
            .as_object_mut()
            .unwrap()
            .remove("signingSecret");
        if let Some(headers) = reloaded["actionConfig"].get_mut("headers") {
            let headers = headers.as_object_mut().unwrap();
            headers.values_mut().for_each(|v| *v = json!("[redacted]"));
        }
        if loaded.id == "forward" {
            reloaded["actionConfig"]["webhookUrl"] = shown["actionConfig"]["webhookUrl"].clone();
        }
        assert_eq!(reloaded, common::as_sent_back(shown), "hook {}", loaded.id);
    }
    let forward = hook("forward");
    assert_eq!(forward.trigger_config.webhook_secret.0, [GITHUB_SECRET]);
    assert_eq!(forward.action_config.signing_secret.0, [SIGNING_SECRET]);
    assert_eq!(forward.action_config.headers["Authorization"], HEADER_VALUE);
    assert_eq!(
        forward.action_config.webhook_url.as_deref(),
        Some(URL_WITH_CREDENTIALS)
    );
    assert_eq!(
        forward.name, "Forward ${HOME} as is",
        "a literal ${{ stays literal"
    );
    assert!(
        forward
            .action_config
            .body_template
            .as_ref()
            .unwrap()
            .contains("${5}")
    );
    assert_eq!(
        hook("tell-me").trigger_config.webhook_secret.0,
        [BEARER_SECRET]
    );
    hub.stop().await;
}

#[tokio::test]
async fn one_hook_as_yaml_passes_hookhub_check() {
    let (hub, dir, sections) = start().await;
    let yaml = yaml(&hub, "/api/hooks/forward?format=yaml").await;
    assert_no_secret_in(&yaml);
    assert_eq!(yaml.matches("\n  - id: ").count(), 1, "{yaml}");
    let path = dir.path().join("moved.yaml");
    let data = dir.path().join("check-data");
    std::fs::write(
        &path,
        format!("{sections}{yaml}").replace("{data}", &data.display().to_string()),
    )
    .unwrap();
    let vars = [
        "FORWARD_WEBHOOK_SECRET",
        "FORWARD_SIGNING_SECRET",
        "FORWARD_WEBHOOK_URL",
        "FORWARD_HEADER_AUTHORIZATION",
        "FORWARD_HEADER_X_PLAIN",
    ];
    let check = Command::new(env!("CARGO_BIN_EXE_hookhub"))
        .args(["check", "--config"])
        .arg(&path)
        .envs(vars.map(|v| (v, env(v).unwrap())))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&check.stdout);
    let err = String::from_utf8_lossy(&check.stderr);
    assert!(
        check.status.success(),
        "hookhub check failed:\n{out}\n{err}\n{yaml}"
    );
    assert!(out.contains("forward"), "{out}");
    // Without the variables the file is refused, naming the first one missing.
    let unset = Command::new(env!("CARGO_BIN_EXE_hookhub"))
        .args(["check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(unset.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unset.stderr).contains("FORWARD_"));
    hub.stop().await;
}

#[tokio::test]
async fn an_unknown_format_is_refused_naming_the_field() {
    let (hub, _dir, _) = start().await;
    let answer = hub
        .api(Method::GET, "/api/hooks?format=toml")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 422);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["field"], "format");
    hub.stop().await;
}
