//! What a lone hub keeps in memory, shared by two hubs on one database: a browser signed in
//! through one hub is signed in on the other and signing out on either ends it; a delivery
//! refused by one is listed by the other; a link code made through one is redeemed through the
//! other, both ways (Slack's slash commands reach whichever hub the load balancer picks).
//!
//! Each fails against hubs that keep these in memory: the other hub would not know the cookie,
//! the refusal or the code.

use std::time::Duration;

use reqwest::header;
use serde_json::{Value, json};

use super::{Pair, TOKEN, forward_hook, send, target, two_hubs, two_hubs_with};
use crate::common::github_signature;
use crate::common::slack::{self, Slack};
use crate::common::telegram::code_in;

const SLACK_CHANNEL: &str = "C0ALERTS";

/// `GET path` on the hub at `url` with `cookie`: the status and the answer.
async fn get_with_cookie(pair: &Pair, url: &str, path: &str, cookie: &str) -> (u16, Value) {
    let response = pair
        .client
        .get(format!("{url}{path}"))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_signed_in_on_one_hub_is_signed_in_on_the_other_until_it_signs_out() {
    let (url, _seen) = target(Duration::ZERO).await;
    let pair = two_hubs(&forward_hook("h", &url, "", 1), "").await;
    let [a, b] = &pair.hubs;
    let signed_in = pair
        .client
        .post(format!("{}/api/session", a.url))
        .json(&json!({ "token": TOKEN }))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    let cookie = signed_in.headers()[header::SET_COOKIE].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    let csrf = signed_in.json::<Value>().await.unwrap()["csrfToken"]
        .as_str()
        .unwrap()
        .to_string();

    let (status, session) = get_with_cookie(&pair, &b.url, "/api/session", &cookie).await;
    assert_eq!(status, 200);
    assert_eq!(session["signedIn"], true, "{session}");
    assert_eq!(session["csrfToken"], csrf.as_str());
    let (status, hooks) = get_with_cookie(&pair, &b.url, "/api/hooks", &cookie).await;
    assert_eq!(status, 200, "{hooks}");

    // Signing out on the other hub ends it on both.
    let out = pair
        .client
        .delete(format!("{}/api/session", b.url))
        .header(header::COOKIE, &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    for hub in [a, b] {
        let (_, session) = get_with_cookie(&pair, &hub.url, "/api/session", &cookie).await;
        assert_eq!(session["signedIn"], false, "{}: {session}", hub.url);
        let (status, _) = get_with_cookie(&pair, &hub.url, "/api/hooks", &cookie).await;
        assert_eq!(status, 401, "{}", hub.url);
    }
}

/// `GET path` with the admin token on the hub at `url`.
async fn admin_get(pair: &Pair, url: &str, path: &str) -> Value {
    let response = pair
        .client
        .get(format!("{url}{path}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_refused_by_one_hub_is_listed_by_the_other() {
    let (url, _seen) = target(Duration::ZERO).await;
    let pair = two_hubs(&forward_hook("guarded", &url, "", 1), "").await;
    let [a, b] = &pair.hubs;
    // Signed with the wrong secret.
    let refused = pair
        .client
        .post(format!("{}/api/webhooks/guarded", a.url))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", github_signature("wrong", b"{}"))
        .body("{}")
        .send()
        .await
        .unwrap();
    let status = refused.status().as_u16();
    assert_eq!(status, 401);
    let (status, _) = send(&pair.client, &a.url, "nowhere", "{}", &[])
        .await
        .unwrap();
    assert_eq!(status, 404);

    let all = admin_get(&pair, &b.url, "/api/rejections").await;
    let listed: Vec<(&str, &str)> = all["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["path"].as_str().unwrap(), r["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        listed,
        [("nowhere", "hook_not_found"), ("guarded", "auth_invalid")],
        "{all:#}"
    );
    let of_hook = admin_get(&pair, &b.url, "/api/hooks/guarded/rejections").await;
    let list = of_hook["rejections"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{of_hook:#}");
    assert_eq!(list[0]["hookId"], "guarded");
    assert_eq!(list[0]["status"], 401);

    // Pages follow the cursor on either hub.
    let first = admin_get(&pair, &a.url, "/api/rejections?limit=1").await;
    let cursor = first["nextCursor"].as_str().unwrap();
    let second = admin_get(
        &pair,
        &b.url,
        &format!("/api/rejections?limit=1&cursor={cursor}"),
    )
    .await;
    assert_eq!(second["rejections"][0]["path"], "guarded", "{second:#}");
    assert!(second["nextCursor"].is_null());
}

/// A Slack slash command `command text` from [`SLACK_CHANNEL`] to the hub at `url`: its reply.
async fn slack_command(pair: &Pair, url: &str, command: &str, text: &str) -> String {
    let now_secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (body, headers) = slack::command(
        slack::SIGNING_SECRET,
        now_secs,
        command,
        text,
        SLACK_CHANNEL,
    );
    let mut request = pair
        .client
        .post(format!("{url}/api/channels/slack/commands"));
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let reply = request.body(body).send().await.unwrap();
    assert_eq!(reply.status(), 200);
    let reply: Value = reply.json().await.unwrap();
    reply["text"].as_str().unwrap().to_string()
}

/// The chats the hub at `url` lists as bound.
async fn bound_chats(pair: &Pair, url: &str) -> Vec<String> {
    let channels = admin_get(pair, url, "/api/channels").await;
    channels["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["chatId"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_code_made_through_one_hub_is_redeemed_through_the_other_both_ways() {
    let slack = Slack::start().await;
    let (url, _seen) = target(Duration::ZERO).await;
    let channels = format!(
        r#"channels:
  slack: {{ botToken: {token}, signingSecret: {secret}, apiUrl: "{api}" }}"#,
        token = slack::BOT_TOKEN,
        secret = slack::SIGNING_SECRET,
        api = slack.url,
    );
    let pair = two_hubs_with(&forward_hook("h", &url, "", 1), "", &channels).await;
    let [a, b] = &pair.hubs;

    // Made in the admin API of one hub, sent from the chat to the other.
    let made = pair
        .client
        .post(format!("{}/api/channels/link-codes", a.url))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let code = made.json::<Value>().await.unwrap()["code"]
        .as_str()
        .unwrap()
        .to_string();
    let reply = slack_command(&pair, &b.url, "/link", &code).await;
    assert!(reply.starts_with("Linked"), "{reply}");
    assert_eq!(bound_chats(&pair, &a.url).await, [SLACK_CHANNEL]);
    // Used up on both.
    let again = slack_command(&pair, &a.url, "/link", &code).await;
    assert!(again.starts_with("Not linked"), "{again}");

    // Given by the bot through one hub, entered in the other's admin API.
    let unlinked = pair
        .client
        .delete(format!("{}/api/channels/bindings/{}", b.url, {
            let channels = admin_get(&pair, &b.url, "/api/channels").await;
            channels["bindings"][0]["id"].as_str().unwrap().to_string()
        }))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert!(unlinked.status().is_success(), "{}", unlinked.status());
    let offered = slack_command(&pair, &b.url, "/hookhub", "link").await;
    let linked = pair
        .client
        .post(format!("{}/api/channels/link", a.url))
        .bearer_auth(TOKEN)
        .json(&json!({ "code": code_in(&offered) }))
        .send()
        .await
        .unwrap();
    assert_eq!(linked.status(), 201);
    assert_eq!(bound_chats(&pair, &b.url).await, [SLACK_CHANNEL]);
}
