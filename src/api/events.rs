//! EventService: live and replayed event streams, and durable subscriptions.

use tonic::{Request, Response, Status};

use super::pagination;
use super::parse::optional_etag;
use super::{Services, principal, request_key, respond};
use crate::domain::access::Principal;
use crate::domain::error::Violations;
use crate::domain::names;
use crate::domain::values::{self, Id};
use crate::events::cursor;
use crate::events::end::StreamEnd;
use crate::events::filter::{self, CompiledFilter};
use crate::events::hub::LogHub;
use crate::events::quota::StreamQuota;
use crate::events::stream::{self, EventStream, StreamSettings};
use crate::proto::v1::{self, event_service_server::EventService};
use crate::service::ServiceError;
use crate::service::subscriptions::{self, NewSubscription, Subscription};
use crate::store::{Cursor, Page, SortKey};

/// The gRPC face of the event log.
#[derive(Clone, Debug)]
pub struct EventApi {
    services: Services,
    hub: LogHub,
    settings: StreamSettings,
    quota: StreamQuota,
}

fn subscription_name(id: &str) -> String {
    format!("subscriptions/{id}")
}

fn parse_subscription_name(name: &str) -> Result<&str, String> {
    match name.strip_prefix("subscriptions/") {
        Some(id) if names::validate_id(id).is_ok() => Ok(id),
        _ => Err(format!(
            "must be a subscription resource name, subscriptions/{{subscription}}; got {name:?}"
        )),
    }
}

impl EventApi {
    pub fn new(services: Services, hub: LogHub, settings: StreamSettings) -> Self {
        Self {
            quota: StreamQuota::new(settings.max_streams_per_token),
            services,
            hub,
            settings,
        }
    }

    fn to_message(&self, s: &Subscription) -> v1::Subscription {
        v1::Subscription {
            name: subscription_name(&s.id),
            uid: s.uid.clone(),
            display_name: s.display_name.clone(),
            filter: Some(s.filter.clone()),
            acknowledged_cursor: cursor::encode(self.hub.epoch(), s.acked_seq),
            create_time: Some(crate::proto::timestamp(s.created_at_us)),
            update_time: Some(crate::proto::timestamp(s.updated_at_us)),
            etag: names::etag(s.version),
        }
    }

    /// The refusal of a cursor before `pruned`, the oldest position still retained.
    fn expired(&self, pruned: i64) -> ServiceError {
        ServiceError::Stream(StreamEnd::CursorExpired {
            oldest_cursor: cursor::encode(self.hub.epoch(), pruned),
        })
    }

    /// The sequence number of a client's cursor: from this database and not ahead of the log.
    /// Empty means the head.
    async fn position(
        &self,
        field: &str,
        text: &str,
        violations: &mut Violations,
    ) -> Result<Option<i64>, Status> {
        let head = self.services.store.log_head().await?;
        if text.is_empty() {
            return Ok(Some(head));
        }
        let Some(seq) = violations.check(field, cursor::decode(text, self.hub.epoch())) else {
            return Ok(None);
        };
        if seq > head {
            violations.add(
                field,
                format!(
                    "is ahead of the log (its head is {})",
                    cursor::encode(self.hub.epoch(), head)
                ),
            );
            return Ok(None);
        }
        Ok(Some(seq))
    }

    /// Opens a stream after `start` for `caller`, refusing a caller at its stream limit and,
    /// when `check_pruned`, a position the retention already pruned.
    async fn open(
        &self,
        caller: &Principal,
        filter: CompiledFilter,
        start: i64,
        check_pruned: bool,
    ) -> Result<EventStream, Status> {
        let permit = self.quota.acquire(&caller.name)?;
        let pruned = if !check_pruned {
            0
        } else {
            self.services.store.log_pruned_through().await?
        };
        if start < pruned {
            return Err(self.expired(pruned).into());
        }
        Ok(stream::open(self.hub.clone(), filter, start, self.settings).holding(permit))
    }
}

impl EventApi {
    /// WatchEvents up to the response: the stream of encoded messages.
    pub async fn watch(
        &self,
        request: Request<v1::WatchEventsRequest>,
    ) -> Result<EventStream, Status> {
        let caller = principal(&request)?;
        let req = request.into_inner();
        let mut violations = Violations::new();
        let start = self
            .position("cursor", &req.cursor, &mut violations)
            .await?;
        let bounded = filter::bounded(&req.filter.unwrap_or_default(), "filter", &mut violations);
        let compiled = filter::compile(&bounded, "filter", &mut violations);
        let start = violations.build(|| start)?;
        // Without a cursor the stream starts at the head just read, which retention never
        // passes; only a client's cursor needs checking against what was pruned.
        let stream = self
            .open(&caller, compiled, start, !req.cursor.is_empty())
            .await?;
        Ok(stream)
    }

    /// The caller's subscription of that name.
    async fn subscription_named(
        &self,
        caller: &Principal,
        name: &str,
    ) -> Result<Subscription, Status> {
        let id = parse_subscription_name(name).map_err(|e| ServiceError::invalid("name", e))?;
        Ok(subscriptions::get(&self.services.store, caller, id).await?)
    }

    /// StreamSubscription up to the response: the stream of encoded messages.
    pub async fn stream_subscription_events(
        &self,
        request: Request<v1::StreamSubscriptionRequest>,
    ) -> Result<EventStream, Status> {
        let caller = principal(&request)?;
        let req = request.into_inner();
        let sub = self.subscription_named(&caller, &req.name).await?;
        let mut violations = Violations::new();
        let compiled = filter::compile(&sub.filter, "filter", &mut violations);
        violations.finish()?;
        let stream = self.open(&caller, compiled, sub.acked_seq, true).await?;
        Ok(stream)
    }
}

/// The messages of an event stream, for a caller of the `EventService` trait itself. Over the
/// network the two stream RPCs are served by `EventRoutes`, which sends the encoded messages
/// as they are.
pub struct Messages(EventStream);

impl tokio_stream::Stream for Messages {
    type Item = Result<v1::WatchEventsResponse, Status>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        use prost::Message;
        std::pin::Pin::new(&mut self.0).poll_next(cx).map(|item| {
            item.map(|frame| {
                let frame = frame?;
                v1::WatchEventsResponse::decode(&frame[5..])
                    .map_err(|e| Status::internal(format!("re-reading an event message: {e}")))
            })
        })
    }
}

#[tonic::async_trait]
impl EventService for EventApi {
    type WatchEventsStream = Messages;
    type StreamSubscriptionStream = Messages;

    async fn watch_events(
        &self,
        request: Request<v1::WatchEventsRequest>,
    ) -> Result<Response<Self::WatchEventsStream>, Status> {
        Ok(Response::new(Messages(self.watch(request).await?)))
    }

    async fn create_subscription(
        &self,
        request: Request<v1::CreateSubscriptionRequest>,
    ) -> Result<Response<v1::Subscription>, Status> {
        let ctx = self.services.write_context(&request)?;
        let req = request.into_inner();
        let mut violations = Violations::new();
        let sub = req.subscription.clone().unwrap_or_default();
        if req.subscription.is_none() {
            violations.add("subscription", "is required");
        }
        let display_name = violations.check(
            "subscription.display_name",
            values::text(&sub.display_name, true, values::TITLE_CHARS),
        );
        let filter_message = filter::bounded(
            &sub.filter.clone().unwrap_or_default(),
            "subscription.filter",
            &mut violations,
        );
        filter::compile(&filter_message, "subscription.filter", &mut violations);
        let start = self
            .position("start_cursor", &req.start_cursor, &mut violations)
            .await?;
        let subscription_id = violations
            .check("subscription_id", Id::optional(&req.subscription_id))
            .map(|id| id.map(Id::into_string));
        let request_id = violations
            .check("request_id", values::request_id(&req.request_id))
            .flatten();
        let new = violations.build(|| {
            Some(NewSubscription {
                id: subscription_id?,
                display_name: display_name?,
                filter: filter_message,
                start_seq: start?,
            })
        })?;
        let key = request_key("CreateSubscription", request_id, &req, |r| {
            r.request_id.clear()
        });
        let outcome = subscriptions::create(
            &self.services.store,
            &ctx,
            new,
            key.as_ref(),
            |s| prost::Message::encode_to_vec(&self.to_message(s)),
            |pruned| self.expired(pruned),
        )
        .await?;
        respond(outcome, |s| self.to_message(&s)).map(Response::new)
    }

    async fn get_subscription(
        &self,
        request: Request<v1::GetSubscriptionRequest>,
    ) -> Result<Response<v1::Subscription>, Status> {
        let caller = principal(&request)?;
        let req = request.into_inner();
        let sub = self.subscription_named(&caller, &req.name).await?;
        Ok(Response::new(self.to_message(&sub)))
    }

    async fn list_subscriptions(
        &self,
        request: Request<v1::ListSubscriptionsRequest>,
    ) -> Result<Response<v1::ListSubscriptionsResponse>, Status> {
        let caller = principal(&request)?;
        let req = request.into_inner();
        let mut violations = Violations::new();
        let limit = violations.check("page_size", pagination::page_size(req.page_size));
        let print = pagination::fingerprint(&["subscriptions"]);
        let after = violations
            .check("page_token", pagination::decode(&req.page_token, &print))
            .flatten();
        let limit = violations.build(|| limit)?;
        let (items, more) = subscriptions::list(
            &self.services.store,
            &caller,
            after.as_ref().map(|c| c.id.as_str()),
            limit,
        )
        .await?;
        let page = Page::new(items, more, |s| Cursor {
            key: SortKey::Int(0),
            id: s.id.clone(),
        });
        let (subscriptions, next_page_token) =
            pagination::fit(page, self.services.max_message_bytes, &print, |s| {
                self.to_message(s)
            });
        Ok(Response::new(v1::ListSubscriptionsResponse {
            subscriptions,
            next_page_token,
        }))
    }

    async fn delete_subscription(
        &self,
        request: Request<v1::DeleteSubscriptionRequest>,
    ) -> Result<Response<()>, Status> {
        let caller = principal(&request)?;
        let req = request.into_inner();
        let id =
            parse_subscription_name(&req.name).map_err(|e| ServiceError::invalid("name", e))?;
        subscriptions::delete(&self.services.store, &caller, id, optional_etag(&req.etag)).await?;
        Ok(Response::new(()))
    }

    async fn stream_subscription(
        &self,
        request: Request<v1::StreamSubscriptionRequest>,
    ) -> Result<Response<Self::StreamSubscriptionStream>, Status> {
        Ok(Response::new(Messages(
            self.stream_subscription_events(request).await?,
        )))
    }

    async fn acknowledge_subscription(
        &self,
        request: Request<v1::AcknowledgeSubscriptionRequest>,
    ) -> Result<Response<v1::Subscription>, Status> {
        let ctx = self.services.write_context(&request)?;
        let req = request.into_inner();
        let mut violations = Violations::new();
        let id = violations.check("name", parse_subscription_name(&req.name));
        if req.cursor.is_empty() {
            violations.add("cursor", "is required");
        }
        let seq = self
            .position("cursor", &req.cursor, &mut violations)
            .await?;
        let (id, seq) = violations.build(|| Some((id?, seq?)))?;
        let sub = subscriptions::acknowledge(&self.services.store, &ctx, id, seq, |pruned| {
            self.expired(pruned)
        })
        .await?;
        Ok(Response::new(self.to_message(&sub)))
    }
}
