//! The config file (SPEC §2): its model, `${VAR}` substitution, and validation whose every error
//! names the file, line, column and field path. This module only reads and checks; it never
//! starts anything.

mod alerts;
mod env;
mod load;
mod position;
mod published;
pub mod strength;
mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::{AlertsConfig, ChannelKind, Hook, duration};

pub use load::{
    ConfigChoice, ConfigError, ConfigIssue, choose_config, find_config_path, load_file,
    load_file_text, load_file_with_warnings, load_str, load_str_with_warnings, read_file,
};
pub use validate::validate_hook;

/// The whole config file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub admin: AdminConfig,
    /// Where everything the hub keeps lives (SPEC §12).
    #[serde(default)]
    pub store: StoreConfig,
    /// Where the owner is notified (SPEC §9).
    #[serde(default)]
    pub channels: ChannelsConfig,
    /// The model `spawn_agent` hooks ask.
    #[serde(default)]
    pub agent: Option<AgentConfig>,
    /// Commands hooks may run, by id. Only the config file defines tools.
    #[serde(default)]
    pub tools: BTreeMap<String, ToolDef>,
    /// Telling the owner of failed executions, for every hook without its own `alerts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<AlertsConfig>,
    /// Shared with the hooks in force built from them (`hooks::LiveHook`), not copied.
    #[serde(default)]
    pub hooks: Vec<Arc<Hook>>,
}

/// `server:`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on; `127.0.0.1:3005` when absent.
    #[serde(default)]
    pub listen: Option<String>,
    /// The public base URL senders use (for copying webhook URLs).
    #[serde(default)]
    pub public_url: Option<String>,
    /// Where the database lives; `./data` when absent.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    #[serde(default = "default_max_body")]
    pub max_body_bytes: u64,
    #[serde(default)]
    pub retention: RetentionConfig,
    /// How many actions may run at once across all hooks.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Proxies (CIDRs) whose client-address header is believed.
    #[serde(default)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The one header a trusted proxy gives the client's address in.
    #[serde(default)]
    pub client_ip_header: ClientIpHeader,
    /// How long a request may take to arrive whole, headers and body.
    #[serde(default = "default_request_timeout", with = "duration")]
    pub request_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request.
    #[serde(default = "default_idle_timeout", with = "duration")]
    pub idle_timeout: Duration,
    /// Connections (or, through a trusted proxy, requests) one client address may hold at once.
    #[serde(default = "default_connections_per_client")]
    pub max_connections_per_client: usize,
    /// On SIGTERM, how long running actions may take to finish before the hub stops anyway.
    #[serde(default = "default_shutdown_grace", with = "duration")]
    pub shutdown_grace: Duration,
    /// Deliveries one client address may make to `/api/webhooks/*`.
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
}

/// `store:` sled in `server.dataDir` (the default), or a PostgreSQL database several hubs share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StoreConfig {
    #[serde(default)]
    pub backend: Backend,
    /// `postgres://user:password@host:port/db?sslmode=…`, for `backend: postgres`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// How long an execution a hub runs stays its own without the hub renewing it; after
    /// that another hub takes it over (a hub that died mid-action). PostgreSQL only.
    #[serde(default = "default_lease", with = "duration")]
    pub lease: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: Backend::Sled,
            url: None,
            lease: default_lease(),
        }
    }
}

fn default_lease() -> Duration {
    Duration::from_secs(30)
}

/// `store.backend`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    #[default]
    Sled,
    Postgres,
}

fn default_shutdown_grace() -> Duration {
    Duration::from_secs(30)
}

fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}

fn default_idle_timeout() -> Duration {
    Duration::from_secs(60)
}

fn default_connections_per_client() -> usize {
    64
}

/// `server.clientIpHeader`: where a trusted proxy writes the client's address. Only this one
/// header is read; whatever else a request carries is the client's own say-so.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClientIpHeader {
    /// The right-most address that is not itself a trusted proxy (nginx, ngrok, most proxies).
    #[default]
    #[serde(rename = "x-forwarded-for")]
    XForwardedFor,
    /// Cloudflare's (cloudflared), which Cloudflare always overwrites.
    #[serde(rename = "cf-connecting-ip")]
    CfConnectingIp,
    /// nginx's `proxy_set_header X-Real-IP $remote_addr`.
    #[serde(rename = "x-real-ip")]
    XRealIp,
}

impl ClientIpHeader {
    /// The header's name, lower-cased.
    pub fn name(self) -> &'static str {
        match self {
            ClientIpHeader::XForwardedFor => "x-forwarded-for",
            ClientIpHeader::CfConnectingIp => "cf-connecting-ip",
            ClientIpHeader::XRealIp => "x-real-ip",
        }
    }
}

/// `server.rateLimit:` a token bucket per client address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained requests per second; 0 turns the limit off.
    #[serde(default = "default_rate")]
    pub per_second: u32,
    /// How many may come at once after a quiet spell.
    #[serde(default = "default_burst")]
    pub burst: u32,
}

fn default_rate() -> u32 {
    50
}

fn default_burst() -> u32 {
    200
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            per_second: default_rate(),
            burst: default_burst(),
        }
    }
}

fn default_max_body() -> u64 {
    1024 * 1024
}

fn default_workers() -> usize {
    20
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: None,
            public_url: None,
            data_dir: None,
            max_body_bytes: default_max_body(),
            retention: RetentionConfig::default(),
            workers: default_workers(),
            trusted_proxies: Vec::new(),
            client_ip_header: ClientIpHeader::default(),
            request_timeout: default_request_timeout(),
            idle_timeout: default_idle_timeout(),
            max_connections_per_client: default_connections_per_client(),
            shutdown_grace: default_shutdown_grace(),
            rate_limit: RateLimitConfig::default(),
        }
    }
}

/// Where people and senders reach the hub: `server.publicUrl`, else `http://` + the listen
/// address.
pub fn public_base_url(config: &Config) -> String {
    config.server.public_url.clone().unwrap_or_else(|| {
        format!(
            "http://{}",
            config.server.listen.as_deref().unwrap_or(DEFAULT_LISTEN)
        )
    })
}

/// The address served when neither `--listen` nor `server.listen` says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:3005";
/// The data directory used when neither `--data-dir` nor `server.dataDir` says otherwise.
pub const DEFAULT_DATA_DIR: &str = "./data";

/// `server.retention:` how long executions are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetentionConfig {
    #[serde(default = "default_max_age", with = "duration")]
    pub max_age: Duration,
    #[serde(default = "default_max_per_hook")]
    pub max_per_hook: usize,
}

fn default_max_age() -> Duration {
    Duration::from_secs(30 * 24 * 3600)
}

fn default_max_per_hook() -> usize {
    10_000
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            max_age: default_max_age(),
            max_per_hook: default_max_per_hook(),
        }
    }
}

/// `admin:`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdminConfig {
    /// The admin token. When empty, the first start generates one and stores only its hash.
    #[serde(default)]
    pub token: Option<String>,
}

/// `channels:` the owner's Telegram bot and Slack app. A channel without a token is off.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChannelsConfig {
    #[serde(default)]
    pub telegram: Option<TelegramConfig>,
    #[serde(default)]
    pub slack: Option<SlackConfig>,
}

impl ChannelsConfig {
    /// The Telegram settings when a bot token is set.
    pub fn telegram(&self) -> Option<&TelegramConfig> {
        self.telegram.as_ref().filter(|t| !t.bot_token.is_empty())
    }

    /// The Slack settings when a bot token is set.
    pub fn slack(&self) -> Option<&SlackConfig> {
        self.slack.as_ref().filter(|s| !s.bot_token.is_empty())
    }

    /// Whether `kind` has the token it needs to send.
    pub fn is_configured(&self, kind: ChannelKind) -> bool {
        match kind {
            ChannelKind::Telegram => self.telegram().is_some(),
            ChannelKind::Slack => self.slack().is_some(),
        }
    }
}

/// `channels.telegram:`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TelegramConfig {
    /// The token @BotFather gave; Telegram is off when empty.
    #[serde(default)]
    pub bot_token: String,
    /// The Bot API server: Telegram's, a self-hosted one, or a test double.
    #[serde(default = "default_telegram_api")]
    pub api_url: String,
}

fn default_telegram_api() -> String {
    "https://api.telegram.org".into()
}

/// `channels.slack:`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SlackConfig {
    /// The app's bot token (`xoxb-…`); Slack is off when empty.
    #[serde(default)]
    pub bot_token: String,
    /// Verifies slash commands arriving at `/api/channels/slack/commands`.
    #[serde(default)]
    pub signing_secret: String,
    /// The Web API base: Slack's, a proxy, or a test double.
    #[serde(default = "default_slack_api")]
    pub api_url: String,
}

fn default_slack_api() -> String {
    "https://slack.com/api".into()
}

/// `agent:` an OpenAI-compatible chat-completions server and how the agent may work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentConfig {
    /// Up to and including `/v1`, such as `http://127.0.0.1:11434/v1` for Ollama.
    pub base_url: String,
    pub model: String,
    /// Sent as `Authorization: Bearer`; servers such as Ollama need none.
    #[serde(default)]
    pub api_key: String,
    /// Model calls an orchestrated run may make in its tool loop.
    #[serde(default = "default_max_steps")]
    pub max_steps: u32,
    /// How long one model call may take.
    #[serde(default = "default_agent_timeout", with = "duration")]
    pub timeout: Duration,
    /// Tokens (prompt + completion, as the server counts them) one execution may use.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u64,
    /// Hosts the `http_get` tool may fetch from; the tool is refused while this is empty.
    #[serde(default)]
    pub http_allowlist: Vec<String>,
    /// Roles by topic: a system prompt, the tools the role may call, and optionally a model.
    #[serde(default)]
    pub roles: BTreeMap<String, AgentRole>,
}

fn default_max_steps() -> u32 {
    8
}

fn default_agent_timeout() -> Duration {
    Duration::from_secs(120)
}

fn default_max_tokens() -> u64 {
    100_000
}

/// `agent.roles.<topic>:`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentRole {
    /// One line the orchestrator reads when it picks a role.
    #[serde(default)]
    pub description: String,
    pub system_prompt: String,
    /// Names of `tools:` entries, `http_get` and `notify_owner`.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Overrides `agent.model` for this role.
    #[serde(default)]
    pub model: Option<String>,
}

/// A tool under `tools:`: a command run without a shell unless `shell: true`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolDef {
    /// argv; each element is a template rendered into exactly one argument.
    #[serde(default)]
    pub command: Vec<String>,
    /// Named alternatives to `command`, picked by a hook's `toolAction`.
    #[serde(default)]
    pub actions: BTreeMap<String, ToolActionDef>,
    #[serde(default)]
    pub working_dir: Option<PathBuf>,
    #[serde(default = "default_tool_timeout", with = "duration")]
    pub timeout: Duration,
    /// Run `command` (one string) through `sh -c`, with every value shell-quoted.
    #[serde(default)]
    pub shell: bool,
    /// Extra environment variables; values are templates.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Give the tool the hub's whole environment. Off, it gets only `PATH`, `HOME`, `LANG`,
    /// `TZ`, the delivery's `HOOKHUB_*` variables and `env`: the hub's tokens and keys live in
    /// its environment and must not reach every script it runs.
    #[serde(default)]
    pub inherit_env: bool,
    /// Let rendered values that begin with `-` stand anywhere in the argv. Off, such a value
    /// fails the attempt unless it comes after a literal `--`, so a payload cannot pass options.
    #[serde(default)]
    pub allow_option_args: bool,
    /// What the tool does, for an agent deciding whether to call it.
    #[serde(default)]
    pub description: Option<String>,
}

fn default_tool_timeout() -> Duration {
    Duration::from_secs(60)
}

/// One of a tool's named `actions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolActionDef {
    pub command: Vec<String>,
}
