//! `GET /api/tools`: what the config file offers hooks to use, for the hook form. The tools
//! `execute_tool` may name, each with its named actions and the `{{params.NAME}}` names its
//! command uses, and the agent's roles. Only names and descriptions: a command's argv and
//! environment stay in the file, as their values may carry the owner's keys.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::config::ToolDef;
use crate::state::AppState;
use crate::template::param_names;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolsOut {
    tools: Vec<ToolOut>,
    /// `None` when the config file has no `agent:` section (spawn_agent cannot be used).
    agent: Option<AgentOut>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolOut {
    id: String,
    description: Option<String>,
    /// Whether the tool runs without a `toolAction` (it has a `command` of its own).
    has_command: bool,
    /// The params `command` and `env` use.
    params: BTreeSet<String>,
    actions: Vec<ToolActionOut>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ToolActionOut {
    name: String,
    /// The params this action's command and the tool's `env` use.
    params: BTreeSet<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AgentOut {
    model: String,
    roles: Vec<RoleOut>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RoleOut {
    name: String,
    description: String,
}

pub async fn list(State(app): State<AppState>) -> Json<ToolsOut> {
    let config = app.config();
    let tools = config
        .tools
        .iter()
        .map(|(id, tool)| tool_out(id, tool))
        .collect();
    let agent = config.agent.as_ref().map(|agent| AgentOut {
        model: agent.model.clone(),
        roles: agent
            .roles
            .iter()
            .map(|(name, role)| RoleOut {
                name: name.clone(),
                description: role.description.clone(),
            })
            .collect(),
    });
    Json(ToolsOut { tools, agent })
}

fn tool_out(id: &str, tool: &ToolDef) -> ToolOut {
    // The environment's templates render for every action, so their params count for each.
    let used = |argv: &[String]| -> BTreeSet<String> {
        argv.iter()
            .chain(tool.env.values())
            .flat_map(|t| param_names(t))
            .collect()
    };
    ToolOut {
        id: id.to_string(),
        description: tool.description.clone(),
        has_command: !tool.command.is_empty(),
        params: used(&tool.command),
        actions: tool
            .actions
            .iter()
            .map(|(name, action)| ToolActionOut {
                name: name.clone(),
                params: used(&action.command),
            })
            .collect(),
    }
}
