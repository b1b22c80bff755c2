//! A hook's trigger in the form the hub trusts, made once when the hook set is built, beside its
//! [`Action`](super::Action): a webhook's verifier, event list and compiled filter, or a
//! schedule's compiled cron pattern. Ingress verifies and admits a delivery through the webhook
//! variant; the scheduler plans the schedule variant. The flat `triggerConfig` of SPEC §3 stays
//! the shape of the YAML file and the API.
//!
//! A webhook whose verifier or filter cannot be built keeps its hook out of the set (the
//! [`HookProblem`] names it). A schedule whose pattern cannot be compiled stays in the set with
//! its [`CronError`], and the scheduler skips it with a warning: validation refuses both, so
//! only a hook stored before a rule changed gets this far.

use super::registry::HookProblem;
use crate::filter::{Filter, FilterInput, Skip, admit_event};
use crate::model::{CronError, CronSchedule, Hook, TriggerKind};
use crate::verify::Verifier;

/// What starts a hook, ready to use.
#[derive(Debug)]
pub enum Trigger {
    /// `POST /api/webhooks/:path`: who may send, and which deliveries run the hook.
    Webhook(WebhookTrigger),
    /// `triggerConfig.cron` in `triggerConfig.timezone`, or why it cannot be compiled.
    Schedule(Result<CronSchedule, CronError>),
}

/// A webhook's sender check and delivery filter.
#[derive(Debug)]
pub struct WebhookTrigger {
    pub verifier: Verifier,
    /// `triggerConfig.events`; every event when empty.
    pub events: Vec<String>,
    /// `triggerConfig.filter`, compiled.
    pub filter: Option<Filter>,
}

impl Trigger {
    /// The trigger of `hook`. For a webhook, the verifier's problem comes first.
    pub fn of(hook: &Hook) -> Result<Self, HookProblem> {
        let config = &hook.trigger_config;
        if hook.trigger == TriggerKind::Schedule {
            return Ok(Trigger::Schedule(CronSchedule::of(config)));
        }
        let verifier = Verifier::new(config).map_err(|error| HookProblem::Verifier {
            hook: hook.id.clone(),
            error,
        })?;
        let filter = config.filter.as_deref().map(Filter::compile);
        let filter = filter.transpose().map_err(|error| HookProblem::Filter {
            hook: hook.id.clone(),
            error,
        })?;
        Ok(Trigger::Webhook(WebhookTrigger {
            verifier,
            events: config.events.clone(),
            filter,
        }))
    }
}

impl WebhookTrigger {
    /// Ok(()) when the delivery should run; Err(reason) to record it as `skipped`, e.g.
    /// "event `push` is not in events [pull_request]" or "filter `body.action == 'opened'` is
    /// false" or "filter error: …".
    pub fn admits(&self, input: &FilterInput<'_>) -> Result<(), Skip> {
        admit_event(&self.events, input.event_type)?;
        self.filter.as_ref().map_or(Ok(()), |f| f.admit(input))
    }
}
