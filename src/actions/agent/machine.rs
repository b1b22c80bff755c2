//! The agent's loop as a pure state machine: [`Agent::step`] takes what just happened and
//! returns what to do next. It never calls a model or runs a tool itself, so every path —
//! classification, the tool loop, the step and token limits — is tested without IO, and the
//! driver in `mod.rs` stays a plain loop over effects.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the default role is told before a topic that names no configured role.
const TOPIC_LINE: &str = "The owner files this event under the topic: ";

/// A chat message in the OpenAI shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: String,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    pub fn new(role: &str, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: Some(content.into()),
            tool_calls: None,
            tool_call_id: None,
        }
    }

    fn calls(&self) -> &[ToolCall] {
        self.tool_calls.as_deref().unwrap_or_default()
    }
}

/// A function call the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type", default = "function")]
    pub kind: String,
    pub function: FunctionCall,
}

fn function() -> String {
    "function".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    /// JSON text, as the model wrote it.
    #[serde(default)]
    pub arguments: String,
}

/// A tool offered to the model: its name, what it does, and its parameters' JSON schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

/// A role: how the model is told to behave, what it may call, and which model plays it.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub name: String,
    pub description: String,
    pub system_prompt: String,
    pub tools: Vec<ToolSpec>,
    pub model: String,
}

/// Everything the loop needs to know up front.
#[derive(Debug, Clone)]
pub struct Setup {
    /// The assembled user prompt (rendered `agentPrompt`, payload, event type).
    pub prompt: String,
    /// The configured roles the orchestrator may pick from.
    pub roles: Vec<Role>,
    /// Used when no role is configured, named, or recognised.
    pub default_role: Role,
    /// `agentTopic`, free text: when it names one of `roles` that role answers without
    /// asking; any other topic goes to the default role, which is told it.
    pub topic: Option<String>,
    pub orchestrated: bool,
    pub max_steps: u32,
    pub max_tokens: u64,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Start,
    /// The model answered `message`, and the call cost `tokens`.
    Replied {
        message: Message,
        tokens: u64,
    },
    /// A tool call finished; `result` goes back to the model as the tool's message.
    ToolDone {
        call_id: String,
        result: String,
    },
}

/// Why a model call is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Pick a role.
    Classify,
    /// Work on the event.
    Answer,
}

/// What to do next.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    CallModel {
        purpose: Purpose,
        model: String,
        messages: Vec<Message>,
        tools: Vec<ToolSpec>,
    },
    RunTool(ToolCall),
    /// The final answer.
    Finish(String),
    Fail(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Phase {
    New,
    Classifying,
    Answering,
    /// Tool calls sent out and not yet answered.
    Waiting(Vec<String>),
    Over,
}

/// One execution's conversation.
#[derive(Debug)]
pub struct Agent {
    setup: Setup,
    phase: Phase,
    role: Role,
    messages: Vec<Message>,
    steps: u32,
    tokens: u64,
}

impl Agent {
    pub fn new(setup: Setup) -> Self {
        let role = setup.default_role.clone();
        Self {
            setup,
            phase: Phase::New,
            role,
            messages: Vec::new(),
            steps: 0,
            tokens: 0,
        }
    }

    /// The role in use (the default until one is chosen).
    pub fn role(&self) -> &Role {
        &self.role
    }

    /// Tokens used so far.
    pub fn tokens(&self) -> u64 {
        self.tokens
    }

    /// Advances the conversation by one event.
    pub fn step(&mut self, event: Event) -> Vec<Effect> {
        match (std::mem::replace(&mut self.phase, Phase::Over), event) {
            (Phase::New, Event::Start) => self.start(),
            (Phase::Classifying, Event::Replied { message, tokens }) => {
                if let Some(over) = self.spend(tokens) {
                    return over;
                }
                self.role = self.pick_role(message.content.as_deref().unwrap_or_default());
                self.begin_answer()
            }
            (Phase::Answering, Event::Replied { message, tokens }) => {
                if let Some(over) = self.spend(tokens) {
                    return over;
                }
                self.steps += 1;
                self.answered(message)
            }
            (Phase::Waiting(mut pending), Event::ToolDone { call_id, result }) => {
                pending.retain(|id| *id != call_id);
                self.messages.push(Message {
                    tool_call_id: Some(call_id),
                    ..Message::new("tool", result)
                });
                if pending.is_empty() {
                    self.phase = Phase::Answering;
                    vec![self.call(Purpose::Answer)]
                } else {
                    self.phase = Phase::Waiting(pending);
                    Vec::new()
                }
            }
            (phase, event) => vec![Effect::Fail(format!(
                "agent loop error: {event:?} while {phase:?}"
            ))],
        }
    }

    fn start(&mut self) -> Vec<Effect> {
        if let Some(topic) = self.setup.topic.clone() {
            self.role = self
                .find_role(&topic)
                .unwrap_or_else(|| self.told_the_topic(&topic));
            return self.begin_answer();
        }
        if self.setup.orchestrated && !self.setup.roles.is_empty() {
            self.phase = Phase::Classifying;
            return vec![self.classify_call()];
        }
        self.begin_answer()
    }

    fn classify_call(&self) -> Effect {
        let mut system = String::from(
            "You route an event that arrived as a webhook to the role best suited to handle \
             it. The roles:\n",
        );
        for role in &self.setup.roles {
            let about = if role.description.is_empty() {
                role.system_prompt.lines().next().unwrap_or_default()
            } else {
                &role.description
            };
            system.push_str(&format!("- {}: {about}\n", role.name));
        }
        system.push_str("Answer with the name of one role and nothing else.");
        Effect::CallModel {
            purpose: Purpose::Classify,
            model: self.setup.default_role.model.clone(),
            messages: vec![
                Message::new("system", system),
                Message::new("user", self.setup.prompt.clone()),
            ],
            tools: Vec::new(),
        }
    }

    /// The role the classifier named: an exact answer, else the first role named in it, else
    /// the default.
    fn pick_role(&self, answer: &str) -> Role {
        let answer = answer.trim().trim_matches(|c: char| !c.is_alphanumeric());
        let lower = answer.to_lowercase();
        self.find_role(&lower)
            .or_else(|| {
                self.setup
                    .roles
                    .iter()
                    .find(|r| lower.contains(&r.name.to_lowercase()))
                    .cloned()
            })
            .unwrap_or_else(|| self.setup.default_role.clone())
    }

    /// The default role for a topic no role is named after. The topic goes into its system
    /// prompt, not the user prompt, because SPEC §6 fixes the user prompt's shape (and the
    /// topic is the owner's framing of the event, not part of it).
    fn told_the_topic(&self, topic: &str) -> Role {
        let mut role = self.setup.default_role.clone();
        if !topic.eq_ignore_ascii_case(&role.name) {
            role.system_prompt = format!("{}\n\n{TOPIC_LINE}{topic}", role.system_prompt);
        }
        role
    }

    fn find_role(&self, name: &str) -> Option<Role> {
        self.setup
            .roles
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name))
            .cloned()
    }

    fn begin_answer(&mut self) -> Vec<Effect> {
        self.messages = vec![
            Message::new("system", self.role.system_prompt.clone()),
            Message::new("user", self.setup.prompt.clone()),
        ];
        self.phase = Phase::Answering;
        vec![self.call(Purpose::Answer)]
    }

    fn call(&self, purpose: Purpose) -> Effect {
        let tools = if self.setup.orchestrated {
            self.role.tools.clone()
        } else {
            Vec::new()
        };
        Effect::CallModel {
            purpose,
            model: self.role.model.clone(),
            messages: self.messages.clone(),
            tools,
        }
    }

    /// Counts `tokens`; the failure to return when the budget is spent.
    fn spend(&mut self, tokens: u64) -> Option<Vec<Effect>> {
        self.tokens += tokens;
        (self.tokens > self.setup.max_tokens).then(|| {
            vec![Effect::Fail(format!(
                "used {} tokens, over the budget of agent.maxTokens = {}",
                self.tokens, self.setup.max_tokens
            ))]
        })
    }

    fn answered(&mut self, message: Message) -> Vec<Effect> {
        let calls = message.calls().to_vec();
        let text = message.content.clone().unwrap_or_default();
        self.messages.push(message);
        if !self.setup.orchestrated || calls.is_empty() {
            return if text.trim().is_empty() {
                vec![Effect::Fail("the model answered with no text".into())]
            } else {
                vec![Effect::Finish(text)]
            };
        }
        if self.steps >= self.setup.max_steps {
            return vec![Effect::Fail(format!(
                "stopped after agent.maxSteps = {} model calls: the model was still calling \
                 tools and gave no final answer",
                self.setup.max_steps
            ))];
        }
        self.phase = Phase::Waiting(calls.iter().map(|c| c.id.clone()).collect());
        calls.into_iter().map(Effect::RunTool).collect()
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
