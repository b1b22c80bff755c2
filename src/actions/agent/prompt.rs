//! The prompt the agent is given (SPEC §6): the rendered `agentPrompt`, then
//! `--- Webhook Payload ---` and the payload as pretty JSON (cut past 32 KB, saying so), then
//! `Event type: <type>` when the event has one.

use serde_json::Value;

/// Payload bytes given to the model at most.
pub const PAYLOAD_LIMIT: usize = 32 * 1024;

/// Assembles the user prompt.
pub fn assemble(prompt: &str, payload: &Value, event_type: Option<&str>) -> String {
    let pretty = serde_json::to_string_pretty(payload).unwrap_or_else(|_| payload.to_string());
    let mut text = format!("{}\n\n--- Webhook Payload ---\n", prompt.trim_end());
    if pretty.len() > PAYLOAD_LIMIT {
        let cut = floor_char_boundary(&pretty, PAYLOAD_LIMIT);
        text.push_str(&pretty[..cut]);
        text.push_str(&format!(
            "\n[payload truncated: the first {cut} of {} bytes are shown]",
            pretty.len()
        ));
    } else {
        text.push_str(&pretty);
    }
    if let Some(event_type) = event_type.filter(|t| !t.is_empty()) {
        text.push_str(&format!("\n\nEvent type: {event_type}"));
    }
    text
}

/// The largest index at most `at` that starts a character of `s`.
fn floor_char_boundary(s: &str, at: usize) -> usize {
    (0..=at.min(s.len()))
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_prompt_has_the_payload_block_and_the_event_type_line() {
        let text = assemble("Summarise.\n", &json!({"a": 1}), Some("push"));
        assert_eq!(
            text,
            "Summarise.\n\n--- Webhook Payload ---\n{\n  \"a\": 1\n}\n\nEvent type: push"
        );
        let text = assemble("Summarise.", &json!([]), None);
        assert_eq!(text, "Summarise.\n\n--- Webhook Payload ---\n[]");
    }

    #[test]
    fn a_huge_payload_is_cut_with_a_note_on_a_character_boundary() {
        let big = json!({ "text": "é".repeat(40_000) });
        let text = assemble("Go.", &big, Some("x"));
        let (_, after) = text.split_once("--- Webhook Payload ---\n").unwrap();
        let payload = after.split("\n[payload truncated").next().unwrap();
        assert!(payload.len() <= PAYLOAD_LIMIT);
        assert!(payload.len() > PAYLOAD_LIMIT - 2);
        assert!(
            text.contains("[payload truncated: the first "),
            "{}",
            &text[text.len() - 120..]
        );
        let whole = serde_json::to_string_pretty(&big).unwrap().len();
        assert!(text.contains(&format!(" of {whole} bytes are shown]")));
        assert!(text.ends_with("\n\nEvent type: x"));
    }
}
