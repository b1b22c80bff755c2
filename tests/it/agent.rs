//! The `spawn_agent` action through the real hub, against a scripted OpenAI-compatible server
//! on port 0 (and the Telegram double for the owner): the exact prompt, one call without tools,
//! the orchestrated loop with a command tool and notify_owner, maxSteps, retries of 5xx, a 401
//! that is not retried, a huge payload cut with a note, a free-text `agentTopic` with no roles,
//! and `notify_owner` offered to a role that does not list it.

use crate::common;

use common::llm::{Llm, Reply, call, text};
use common::telegram::{self, Telegram};
use common::{Hub, Target, accepted_ids};
use serde_json::{Value, json};

const OWNER_CHAT: i64 = 4242;
const API_KEY: &str = "sk-test-key-123";

/// The hub's settings and the owner's Telegram (the double), shared by every config here.
fn head(telegram: &Telegram) -> String {
    format!(
        r#"
server: {{ dataDir: "{{data}}", shutdownGrace: 0s }}
admin: {{ token: test-admin-token }}
channels:
  telegram: {{ botToken: "{tg_token}", apiUrl: "{tg}" }}
"#,
        tg_token = telegram::TOKEN,
        tg = telegram.url,
    )
}

fn config(llm: &Llm, telegram: &Telegram) -> String {
    format!(
        r#"{head}agent:
  baseUrl: "{llm}"
  model: test-model
  apiKey: {API_KEY}
  maxSteps: 3
  httpAllowlist: [127.0.0.1]
  roles:
    devops:
      description: deployments and CI
      systemPrompt: You are the devops role.
      tools: [deploy, notify_owner]
    sales:
      systemPrompt: You are the sales role.
      model: sales-model
    web:
      systemPrompt: You look things up.
      tools: [http_get]
tools:
  deploy:
    command: [/bin/echo, "deploying {{{{params.service}}}}"]
    description: Deploys a service.
hooks:
  - id: summary
    triggerConfig: {{ webhookPath: summary, webhookSecret: s3cret }}
    action: spawn_agent
    actionConfig: {{ agentPrompt: "Summarise this {{{{webhook.eventType}}}} event." }}
  - id: ops
    triggerConfig: {{ webhookPath: ops, webhookSecret: s3cret }}
    action: spawn_agent
    actionConfig: {{ agentPrompt: "Handle this.", orchestrated: true, notifyOwner: true }}
  - id: quiet-ops
    triggerConfig: {{ webhookPath: quiet-ops, webhookSecret: s3cret }}
    action: spawn_agent
    actionConfig: {{ agentPrompt: "Handle this.", orchestrated: true, agentTopic: devops }}
  - id: web
    triggerConfig: {{ webhookPath: web, webhookSecret: s3cret }}
    action: spawn_agent
    actionConfig: {{ agentPrompt: "Look it up.", orchestrated: true, agentTopic: web }}
  - id: summary-again
    triggerConfig: {{ webhookPath: summary-again, webhookSecret: s3cret }}
    action: spawn_agent
    actionConfig: {{ agentPrompt: "Summarise.", retryOnCrash: true }}
"#,
        head = head(telegram),
        llm = llm.url,
    )
}

async fn start(script: Vec<Reply>) -> (Hub, Llm, Telegram, tempfile::TempDir) {
    let llm = Llm::start(script).await;
    let telegram = Telegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&config(&llm, &telegram), dir.path(), None).await;
    (hub, llm, telegram, dir)
}

async fn run(hub: &Hub, path: &str, body: &str, status: &str) -> Value {
    let id = accepted_ids(hub.deliver(path, "s3cret", body).await)
        .await
        .remove(0);
    hub.wait_for_status(&id, status).await
}

fn user_prompt(request: &Value) -> String {
    request["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_plain_run_sends_the_exact_prompt_in_one_call_without_tools() {
    let (hub, llm, _tg, _dir) = start(vec![text("Alice pushed two commits.")]).await;
    let body = r#"{"ref":"refs/heads/main","commits":[1,2]}"#;
    let e = run(&hub, "summary", body, "succeeded").await;
    assert_eq!(e["output"], "Alice pushed two commits.");

    let requests = llm.requests();
    assert_eq!(requests.len(), 1);
    let pretty =
        serde_json::to_string_pretty(&serde_json::from_str::<Value>(body).unwrap()).unwrap();
    assert_eq!(
        user_prompt(&requests[0]),
        format!(
            "Summarise this push event.\n\n--- Webhook Payload ---\n{pretty}\n\nEvent type: push"
        )
    );
    assert_eq!(requests[0]["model"], "test-model");
    assert_eq!(requests[0]["messages"][0]["role"], "system");
    assert!(requests[0].get("tools").is_none(), "no tools offered");
    assert_eq!(llm.authorizations(), [Some(format!("Bearer {API_KEY}"))]);

    let detail = &e["attempts"][0]["detail"];
    assert_eq!(detail["role"], "default");
    assert_eq!(detail["totalTokens"], 120);
    let steps: Vec<&str> = detail["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["prompt", "model"]);
    assert_eq!(detail["steps"][1]["usage"]["totalTokens"], 120);
    assert!(
        !e.to_string().contains(API_KEY),
        "the API key is never logged"
    );
}

#[tokio::test]
async fn an_orchestrated_run_classifies_calls_tools_and_tells_the_owner() {
    let (hub, llm, tg, _dir) = start(vec![
        text("devops"),
        call("deploy", json!({"service": "web; rm -rf /"})),
        call("notify_owner", json!({"message": "Deploying web now"})),
        text("Deployed web."),
    ])
    .await;
    tg.link(&hub, OWNER_CHAT).await;
    let e = run(&hub, "ops", r#"{"action":"deploy"}"#, "succeeded").await;
    assert_eq!(e["output"], "Deployed web.");

    let requests = llm.requests();
    assert_eq!(requests.len(), 4);
    // The classifier sees the roles and no tools.
    let classify = requests[0]["messages"][0]["content"].as_str().unwrap();
    assert!(
        classify.contains("- devops: deployments and CI"),
        "{classify}"
    );
    assert!(requests[0].get("tools").is_none());
    // The devops role is played with its own prompt and tools.
    assert_eq!(
        requests[1]["messages"][0]["content"],
        "You are the devops role."
    );
    let offered: Vec<&str> = requests[1]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(offered, ["deploy", "notify_owner"]);
    assert_eq!(
        requests[1]["tools"][0]["function"]["parameters"]["required"],
        json!(["service"])
    );
    // The tool's result went back as a tool message: one literal argument, no shell.
    let tool_message = requests[2]["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(tool_message["role"], "tool");
    assert_eq!(tool_message["tool_call_id"], "call_1_0");
    assert!(
        tool_message["content"]
            .as_str()
            .unwrap()
            .contains("deploying web; rm -rf /"),
        "{tool_message}"
    );

    // The owner heard from the tool and from the final answer.
    tg.wait_for_message(OWNER_CHAT, |t| t == "Deploying web now")
        .await;
    tg.wait_for_message(OWNER_CHAT, |t| t == "Deployed web.")
        .await;

    let detail = &e["attempts"][0]["detail"];
    assert_eq!(detail["role"], "devops");
    let steps: Vec<&str> = detail["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        steps,
        [
            "prompt", "classify", "model", "tool", "model", "tool", "model"
        ]
    );
    assert_eq!(detail["steps"][3]["name"], "deploy");
    assert_eq!(detail["steps"][3]["ok"], true);
    assert_eq!(detail["finalText"], "Deployed web.");
    assert_eq!(detail["notified"][0]["delivered"], true);
    assert_eq!(detail["totalTokens"], 480);
}

#[tokio::test]
async fn a_model_that_loops_forever_is_stopped_at_max_steps() {
    let (hub, llm, _tg, _dir) = start(vec![text("devops")]).await;
    llm.otherwise(call("deploy", json!({"service": "web"})));
    let e = run(&hub, "ops", "{}", "failed").await;
    let error = e["error"].as_str().unwrap();
    assert!(error.contains("agent.maxSteps = 3"), "{error}");
    // One classification and three steps, then no more calls.
    assert_eq!(llm.requests().len(), 4);
}

#[tokio::test]
async fn a_500_from_the_model_is_retried_and_a_401_is_not() {
    let (hub, llm, _tg, _dir) = start(vec![Reply::Status(500), text("fine")]).await;
    let e = run(&hub, "summary", "{}", "succeeded").await;
    assert_eq!(e["output"], "fine");
    assert_eq!(llm.requests().len(), 2);
    assert_eq!(e["attempts"][0]["detail"]["steps"][1]["requests"], 2);

    let (hub, llm, _tg, _dir) = start(vec![Reply::Status(401)]).await;
    let e = run(&hub, "summary", "{}", "failed").await;
    let error = e["error"].as_str().unwrap();
    assert!(error.contains("401"), "{error}");
    assert_eq!(llm.requests().len(), 1);
    assert_eq!(e["attempts"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_huge_payload_is_cut_with_a_note() {
    let (hub, llm, _tg, _dir) = start(vec![text("big")]).await;
    let body = json!({ "blob": "x".repeat(50_000) }).to_string();
    run(&hub, "summary", &body, "succeeded").await;
    let prompt = user_prompt(&llm.requests()[0]);
    assert!(prompt.len() < 34 * 1024, "{}", prompt.len());
    assert!(
        prompt.contains("[payload truncated: the first 32768 of "),
        "{}",
        &prompt[prompt.len() - 200..]
    );
    assert!(prompt.ends_with("\n\nEvent type: push"));
}

#[tokio::test]
async fn an_agent_hook_without_an_agent_section_is_a_config_error() {
    let yaml = r#"
hooks:
  - id: ask
    triggerConfig: { webhookPath: ask, webhookSecret: s }
    action: spawn_agent
    actionConfig: { agentPrompt: hi, agentTopic: ops }
"#;
    let error = hookhub::load_str(yaml, "hooks.yaml", &|_| None)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("hooks[0].action: spawn_agent needs an `agent:` section"),
        "{error}"
    );
}

/// The last message of a request: what the previous tool call answered.
fn tool_answer(request: &Value) -> String {
    let last = request["messages"].as_array().unwrap().last().unwrap();
    assert_eq!(last["role"], "tool");
    last["content"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_failing_tool_call_goes_back_to_the_model_as_a_result() {
    let (hub, llm, _tg, _dir) = start(vec![
        call("rm_everything", json!({})),
        call("deploy", json!({"service": 5, "action": "nope"})),
        text("Could not deploy."),
    ])
    .await;
    let e = run(&hub, "quiet-ops", "{}", "succeeded").await;
    assert_eq!(e["output"], "Could not deploy.");
    let requests = llm.requests();
    let unknown = tool_answer(&requests[1]);
    assert!(
        unknown.starts_with("error: there is no tool `rm_everything`"),
        "{unknown}"
    );
    let bad_action = tool_answer(&requests[2]);
    assert!(bad_action.contains("has no action `nope`"), "{bad_action}");
    assert_eq!(e["attempts"][0]["detail"]["steps"][2]["ok"], false);
}

#[tokio::test]
async fn http_get_reaches_only_the_allowlisted_hosts() {
    let target = Target::start(&[]).await;
    let (hub, llm, _tg, _dir) = start(vec![
        call("http_get", json!({"url": target.url})),
        call("http_get", json!({"url": "http://example.com/"})),
        text("Looked."),
    ])
    .await;
    run(&hub, "web", "{}", "succeeded").await;
    let requests = llm.requests();
    assert_eq!(tool_answer(&requests[1]), "HTTP 200\ntarget said 200");
    let refused = tool_answer(&requests[2]);
    assert!(refused.contains("is not allowed"), "{refused}");
    assert_eq!(target.count(), 1);
}

#[tokio::test]
async fn an_agent_interrupted_by_a_stop_is_failed_unless_it_may_run_again() {
    let slow = || Reply::Slow(30, "late".into());
    let llm = Llm::start(vec![slow(), slow()]).await;
    let telegram = Telegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = config(&llm, &telegram);
    let hub = Hub::start(&yaml, dir.path(), None).await;
    let once = accepted_ids(hub.deliver("summary", "s3cret", "{}").await)
        .await
        .remove(0);
    let again = accepted_ids(hub.deliver("summary-again", "s3cret", "{}").await)
        .await
        .remove(0);
    hub.wait_for_status(&once, "running").await;
    hub.wait_for_status(&again, "running").await;
    hub.stop().await;

    let hub = Hub::start(&yaml, dir.path(), None).await;
    let e = hub.wait_for_status(&once, "failed").await;
    assert!(
        e["error"].as_str().unwrap().starts_with("interrupted"),
        "{e}"
    );
    let e = hub.wait_for_status(&again, "succeeded").await;
    assert_eq!(e["output"], "done");
    hub.stop().await;
}

/// The hook SPEC §3 documents, with an `agent:` section that has no roles at all.
fn documented_config(llm: &Llm, telegram: &Telegram) -> String {
    format!(
        r#"{head}agent: {{ baseUrl: "{llm}", model: test-model }}
hooks:
  - id: github-prs
    triggerConfig: {{ webhookPath: github-prs, webhookSecret: s3cret }}
    action: spawn_agent
    actionConfig: {{"agentPrompt": "Summarise this event.", "agentTopic": "devops", "orchestrated": false, "notifyOwner": true}}
"#,
        head = head(telegram),
        llm = llm.url,
    )
}

#[tokio::test]
async fn a_free_text_topic_without_roles_loads_and_the_default_role_is_told_it() {
    let llm = Llm::start(vec![text("Two commits to main.")]).await;
    let tg = Telegram::start().await;
    let dir = tempfile::tempdir().unwrap();
    let hub = Hub::start(&documented_config(&llm, &tg), dir.path(), None).await;
    tg.link(&hub, OWNER_CHAT).await;
    let e = run(&hub, "github-prs", r#"{"commits":[1,2]}"#, "succeeded").await;
    assert_eq!(e["attempts"][0]["detail"]["role"], "default");

    let requests = llm.requests();
    assert_eq!(requests.len(), 1, "one completion, no classification");
    let system = requests[0]["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.ends_with("\n\nThe owner files this event under the topic: devops"),
        "{system}"
    );
    assert!(user_prompt(&requests[0]).starts_with("Summarise this event.\n\n"));
    assert!(requests[0].get("tools").is_none(), "not orchestrated");
    tg.wait_for_message(OWNER_CHAT, |t| t == "Two commits to main.")
        .await;
    hub.stop().await;
}

#[tokio::test]
async fn a_role_that_does_not_list_notify_owner_is_offered_it_and_can_call_it() {
    let (hub, llm, tg, _dir) = start(vec![
        call("notify_owner", json!({"message": "Looked nothing up"})),
        text("Told the owner."),
    ])
    .await;
    tg.link(&hub, OWNER_CHAT).await;
    // The `web` role's tools are [http_get] only.
    let e = run(&hub, "web", "{}", "succeeded").await;
    assert_eq!(e["attempts"][0]["detail"]["role"], "web");
    let offered: Vec<String> = llm.requests()[0]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(offered, ["http_get", "notify_owner"]);
    assert_eq!(e["attempts"][0]["detail"]["steps"][2]["ok"], true);
    tg.wait_for_message(OWNER_CHAT, |t| t == "Looked nothing up")
        .await;
}
