//! `hookhub check`: validates the config file and prints what each hook will do, so a change
//! can be reviewed before the running hub picks it up.

use super::CheckArgs;
use crate::config::{self, Config};
use crate::model::{ActionKind, Hook, TriggerKind};

/// Validates the config and prints one line per hook, then any warnings. Returns 0 when the
/// file is valid, 1 when it is invalid or cannot be found.
pub fn run(args: &CheckArgs) -> i32 {
    let Some(path) = config::find_config_path(args.config.as_deref()) else {
        eprintln!(
            "no config file: pass --config FILE, set HOOKHUB_CONFIG, or create ./hooks.yaml \
             (./hooks.example.yaml is used when present)"
        );
        return 1;
    };
    match config::load_file_with_warnings(&path) {
        Ok((config, warnings)) => {
            print!("{}", render_hooks(&config));
            println!(
                "{}: valid ({}, {})",
                path.display(),
                count(config.hooks.len(), "hook"),
                count(config.tools.len(), "tool")
            );
            for warning in &warnings {
                eprintln!("warning: {warning}");
            }
            0
        }
        Err(e) => {
            for issue in &e.issues {
                eprintln!("{issue}");
            }
            1
        }
    }
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The hook table: id, trigger, path, auth, action, with columns aligned.
pub fn render_hooks(config: &Config) -> String {
    let rows: Vec<[String; 5]> = config.hooks.iter().map(|hook| row(hook)).collect();
    let mut widths = [0; 5];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for (row, hook) in rows.iter().zip(&config.hooks) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  "));
            }
        }
        if !hook.enabled {
            line.push_str("  (disabled)");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn row(hook: &Hook) -> [String; 5] {
    let trigger = match hook.trigger {
        TriggerKind::Webhook => "webhook",
        TriggerKind::Schedule => "schedule",
    };
    let tc = &hook.trigger_config;
    let scheduled = hook.trigger == TriggerKind::Schedule;
    let auth = if scheduled {
        "-".to_string()
    } else if tc.webhook_secret.is_empty() {
        format!("{} (no secret!)", tc.scheme_name())
    } else {
        tc.scheme_name().to_string()
    };
    let ac = &hook.action_config;
    let action = match hook.action {
        ActionKind::Webhook => {
            let url = ac.webhook_url.as_deref().map(crate::model::redact::url);
            format!("webhook → {}", url.as_deref().unwrap_or("?"))
        }
        ActionKind::ExecuteTool => {
            let action = ac
                .tool_action
                .as_deref()
                .map(|a| format!(".{a}"))
                .unwrap_or_default();
            let tool = ac.tool_id.as_deref().unwrap_or("?");
            format!("execute_tool → {tool}{action}")
        }
        ActionKind::Notify if ac.channels.is_empty() => "notify → owner".to_string(),
        ActionKind::Notify => {
            let kinds: Vec<&str> = ac.channels.iter().map(|k| k.as_str()).collect();
            format!("notify → owner on {}", kinds.join(", "))
        }
        ActionKind::SpawnAgent => {
            let role = ac.agent_topic.as_deref().unwrap_or(if ac.orchestrated {
                "orchestrated"
            } else {
                "default"
            });
            let notify = if ac.notify_owner == Some(true) {
                " → owner"
            } else {
                ""
            };
            format!("spawn_agent ({role}){notify}")
        }
    };
    [
        hook.id.clone(),
        trigger.to_string(),
        if scheduled {
            let tz = tc.timezone.as_deref().unwrap_or("UTC");
            format!("cron {} ({tz})", tc.cron.as_deref().unwrap_or("?"))
        } else {
            format!("/api/webhooks/{}", tc.webhook_path)
        },
        auth,
        action,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_are_listed_in_aligned_columns() {
        let text = "\
tools: { log: { command: [/bin/echo] } }
hooks:
  - { id: github-push, triggerConfig: { webhookPath: github, webhookSecret: s },
      action: execute_tool, actionConfig: { toolId: log } }
  - { id: fwd, enabled: false, triggerConfig: { webhookPath: forward/all },
      action: webhook, actionConfig: { webhookUrl: 'http://127.0.0.1:9000/hook' } }
";
        let config = config::load_str(text, "t.yaml", &|_| None).unwrap();
        assert_eq!(
            render_hooks(&config),
            "\
github-push  webhook  /api/webhooks/github       github               execute_tool → log
fwd          webhook  /api/webhooks/forward/all  github (no secret!)  webhook → http://127.0.0.1:9000/hook  (disabled)
"
        );
    }
}
