//! The loop, event by event, with no model and no tools.

use serde_json::json;

use super::*;

fn role(name: &str, tools: &[&str]) -> Role {
    Role {
        name: name.into(),
        description: format!("handles {name} events"),
        system_prompt: format!("You are the {name} role."),
        tools: tools
            .iter()
            .map(|t| ToolSpec {
                name: t.to_string(),
                description: String::new(),
                parameters: json!({"type": "object"}),
            })
            .collect(),
        model: format!("{name}-model"),
    }
}

fn setup(orchestrated: bool) -> Setup {
    Setup {
        prompt: "What happened?".into(),
        roles: vec![
            role("devops", &["deploy", "notify_owner"]),
            role("sales", &[]),
        ],
        default_role: role("default", &["notify_owner"]),
        topic: None,
        orchestrated,
        max_steps: 3,
        max_tokens: 1_000,
    }
}

fn reply(text: &str) -> Event {
    Event::Replied {
        message: Message::new("assistant", text),
        tokens: 10,
    }
}

fn calls(names: &[(&str, &str)]) -> Event {
    let calls = names
        .iter()
        .map(|(id, name)| ToolCall {
            id: id.to_string(),
            kind: "function".into(),
            function: FunctionCall {
                name: name.to_string(),
                arguments: "{}".into(),
            },
        })
        .collect();
    Event::Replied {
        message: Message {
            tool_calls: Some(calls),
            ..Message::new("assistant", "")
        },
        tokens: 10,
    }
}

fn model_call(effects: &[Effect]) -> (Purpose, String, Vec<Message>, Vec<String>) {
    match effects {
        [
            Effect::CallModel {
                purpose,
                model,
                messages,
                tools,
            },
        ] => (
            *purpose,
            model.clone(),
            messages.clone(),
            tools.iter().map(|t| t.name.clone()).collect(),
        ),
        other => panic!("expected one model call, got {other:?}"),
    }
}

#[test]
fn without_orchestration_one_call_without_tools_gives_the_answer() {
    let mut agent = Agent::new(setup(false));
    let (purpose, model, messages, tools) = model_call(&agent.step(Event::Start));
    assert_eq!(purpose, Purpose::Answer);
    assert_eq!(model, "default-model");
    assert_eq!(
        messages[0].content.as_deref(),
        Some("You are the default role.")
    );
    assert_eq!(messages[1].content.as_deref(), Some("What happened?"));
    assert!(tools.is_empty());
    // Even a model that asks for tools gets none: its text is the answer.
    let effects = agent.step(Event::Replied {
        message: Message {
            tool_calls: Some(vec![]),
            ..Message::new("assistant", "A PR was opened.")
        },
        tokens: 5,
    });
    assert_eq!(effects, vec![Effect::Finish("A PR was opened.".into())]);
}

#[test]
fn orchestration_classifies_then_loops_through_tools_to_a_final_answer() {
    let mut agent = Agent::new(setup(true));
    let (purpose, _, messages, tools) = model_call(&agent.step(Event::Start));
    assert_eq!(purpose, Purpose::Classify);
    assert!(tools.is_empty());
    let system = messages[0].content.clone().unwrap();
    assert!(
        system.contains("- devops: handles devops events"),
        "{system}"
    );
    assert!(system.contains("- sales:"), "{system}");

    let (purpose, model, _, tools) = model_call(&agent.step(reply("devops.")));
    assert_eq!(purpose, Purpose::Answer);
    assert_eq!(model, "devops-model");
    assert_eq!(tools, ["deploy", "notify_owner"]);
    assert_eq!(agent.role().name, "devops");

    let effects = agent.step(calls(&[("c1", "deploy"), ("c2", "notify_owner")]));
    assert_eq!(effects.len(), 2);
    assert!(matches!(&effects[0], Effect::RunTool(c) if c.function.name == "deploy"));
    // Nothing more until every call is answered, in any order.
    let none = agent.step(Event::ToolDone {
        call_id: "c2".into(),
        result: "sent".into(),
    });
    assert!(none.is_empty());
    let (_, _, messages, _) = model_call(&agent.step(Event::ToolDone {
        call_id: "c1".into(),
        result: "deployed".into(),
    }));
    let tail: Vec<(&str, Option<&str>)> = messages[3..]
        .iter()
        .map(|m| (m.role.as_str(), m.tool_call_id.as_deref()))
        .collect();
    assert_eq!(tail, [("tool", Some("c2")), ("tool", Some("c1"))]);

    let done = agent.step(reply("Deployed and told you."));
    assert_eq!(done, vec![Effect::Finish("Deployed and told you.".into())]);
    assert_eq!(agent.tokens(), 30);
}

#[test]
fn an_unrecognised_role_falls_back_to_the_default() {
    let mut agent = Agent::new(setup(true));
    agent.step(Event::Start);
    let (_, model, _, _) = model_call(&agent.step(reply("I am not sure")));
    assert_eq!(model, "default-model");
    assert_eq!(agent.role().name, "default");
}

#[test]
fn a_named_topic_skips_classification() {
    let mut agent = Agent::new(Setup {
        topic: Some("sales".into()),
        ..setup(true)
    });
    let (purpose, model, _, _) = model_call(&agent.step(Event::Start));
    assert_eq!((purpose, model.as_str()), (Purpose::Answer, "sales-model"));
}

#[test]
fn a_topic_naming_no_role_goes_to_the_default_role_told_the_topic() {
    // Orchestrated or not, a free-text topic skips classification: the owner chose.
    for orchestrated in [false, true] {
        let mut agent = Agent::new(Setup {
            topic: Some("communication".into()),
            ..setup(orchestrated)
        });
        let (purpose, model, messages, _) = model_call(&agent.step(Event::Start));
        assert_eq!(
            (purpose, model.as_str()),
            (Purpose::Answer, "default-model")
        );
        assert_eq!(agent.role().name, "default");
        assert_eq!(
            messages[0].content.as_deref(),
            Some(
                "You are the default role.\n\nThe owner files this event under the topic: communication"
            )
        );
        assert_eq!(messages[1].content.as_deref(), Some("What happened?"));
    }
    // Naming the default role (or a role, in any case) is not a topic to tell.
    for (topic, prompt) in [
        ("default", "You are the default role."),
        ("DevOps", "You are the devops role."),
    ] {
        let mut agent = Agent::new(Setup {
            topic: Some(topic.into()),
            ..setup(true)
        });
        let (_, _, messages, _) = model_call(&agent.step(Event::Start));
        assert_eq!(messages[0].content.as_deref(), Some(prompt), "{topic}");
    }
}

#[test]
fn a_model_that_keeps_calling_tools_is_stopped_at_max_steps() {
    let mut agent = Agent::new(Setup {
        topic: Some("devops".into()),
        ..setup(true)
    });
    agent.step(Event::Start);
    for n in 1..=2 {
        let id = format!("c{n}");
        let effects = agent.step(calls(&[(&id, "deploy")]));
        assert!(matches!(&effects[..], [Effect::RunTool(_)]), "step {n}");
        agent.step(Event::ToolDone {
            call_id: id,
            result: "again".into(),
        });
    }
    let effects = agent.step(calls(&[("c3", "deploy")]));
    match &effects[..] {
        [Effect::Fail(why)] => assert!(why.contains("agent.maxSteps = 3"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_token_budget_stops_the_run() {
    let mut agent = Agent::new(Setup {
        max_tokens: 15,
        ..setup(false)
    });
    agent.step(Event::Start);
    match &agent.step(reply("long answer"))[..] {
        [Effect::Finish(_)] => {}
        other => panic!("{other:?}"),
    }
    let mut agent = Agent::new(Setup {
        max_tokens: 15,
        topic: Some("devops".into()),
        ..setup(true)
    });
    agent.step(Event::Start);
    agent.step(calls(&[("c1", "deploy")]));
    agent.step(Event::ToolDone {
        call_id: "c1".into(),
        result: "ok".into(),
    });
    match &agent.step(reply("done"))[..] {
        [Effect::Fail(why)] => assert!(why.contains("used 20 tokens"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_empty_answer_fails_and_events_out_of_turn_are_errors() {
    let mut agent = Agent::new(setup(false));
    agent.step(Event::Start);
    assert!(matches!(&agent.step(reply("  "))[..], [Effect::Fail(_)]));
    assert!(matches!(&agent.step(reply("late"))[..], [Effect::Fail(_)]));
}
