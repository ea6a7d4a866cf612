//! The gRPC API: one module per service. Every handler has the same shape: parse the request
//! into domain types (collecting every bad field), call the store, convert the result back.

pub mod applications;
pub mod auth;
pub mod error;
pub mod events;
pub mod filter;
pub mod funding;
pub mod investment;
pub mod milestones;
pub mod pagination;
pub mod parse;
pub mod problems;
pub mod projects;
pub mod reports;

use std::sync::Arc;

use prost::Message;
use tonic::{Request, Status};

use crate::domain::access::Principal;
use crate::domain::clock::Clock;
use crate::domain::milestone::Policy;
use crate::domain::problem::CountyUnits;
use crate::service::ServiceError;
use crate::store::idempotency::RequestKey;
use crate::store::{Outcome, Store, WriteContext};

/// The server's message limit unless configured otherwise (`serve --max-message-bytes`).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// What every service needs: the store, the clock, the funding horizon (`policy`; milestone
/// thresholds and the problem escalation ladder come from the active light rule set,
/// `light_policy`), the county's units and the message limit.
#[derive(Clone, Debug)]
pub struct Services {
    pub store: Store,
    pub clock: Clock,
    pub policy: Policy,
    /// The county's departments and townships (`serve --units-file`): when set, a problem's
    /// responsible unit must be one of them; None accepts any unit.
    pub units: Option<Arc<CountyUnits>>,
    /// The largest response the transport sends, in bytes: list pages are cut to fit it
    /// (`pagination::fit`). `app::run` sets it from its options.
    pub max_message_bytes: usize,
}

/// The caller of a request, put there by the authentication layer.
pub fn principal<T>(request: &Request<T>) -> Result<Principal, Status> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| {
            Status::from(ServiceError::Unauthenticated {
                message: "the request carries no authenticated caller".into(),
            })
        })
}

impl Services {
    /// The thresholds milestone lights and problem escalations are judged by now: the active
    /// light rule set's tolerance, warning horizon and escalation ladder (with this server's
    /// funding horizon), and the revision's name.
    pub async fn light_policy(&self) -> Result<(Policy, String), ServiceError> {
        let rule_set = crate::store::investment::active_rule_set(self.store.connection()).await?;
        Ok((
            Policy {
                warning_horizon_days: rule_set.rules.warning_horizon_days,
                tolerance_days: rule_set.rules.milestone_tolerance_days,
                funding_horizon_days: self.policy.funding_horizon_days,
                problem_escalation: rule_set.rules.problem_escalation,
            },
            rule_set.name(),
        ))
    }

    /// Who is writing, and when. The actor is the token's name; clients cannot set it.
    pub fn write_context<T>(&self, request: &Request<T>) -> Result<WriteContext, Status> {
        let principal = principal(request)?;
        Ok(WriteContext {
            actor: principal.name.clone(),
            principal,
            now_us: self.clock.now_micros(),
            today: self.clock.today(),
        })
    }
}

/// The idempotency key of a request: its method, request id and the request without the id.
pub fn request_key<M: Message + Clone>(
    method: &'static str,
    request_id: Option<String>,
    request: &M,
    clear_id: impl FnOnce(&mut M),
) -> Option<RequestKey> {
    request_id.map(|id| {
        let mut stripped = request.clone();
        clear_id(&mut stripped);
        RequestKey::new(method, id, &stripped.encode_to_vec())
    })
}

/// The response of a call with a request id: fresh, or the stored first response.
pub fn respond<T, M: Message + Default>(
    outcome: Outcome<T>,
    convert: impl FnOnce(T) -> M,
) -> Result<M, Status> {
    match outcome {
        Outcome::Done(value) => Ok(convert(value)),
        Outcome::Replayed(bytes) => {
            M::decode(bytes.as_slice()).map_err(|err| ServiceError::internal(err).into())
        }
    }
}
