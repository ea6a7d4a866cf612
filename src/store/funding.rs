//! Funding windows, each write in one transaction with its event.

use chrono::NaiveDate;
use prost::Message;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, Order, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::entities::funding_window;
use super::idempotency::RequestKey;
use super::projects::{check_etag, finish};
use super::{Cursor, Outcome, Page, SortKey, Store, WriteContext, db_error, unique_violation};
use crate::domain::funding::{
    Eligibility, FundingChannel, FundingWindow, WindowFields, WindowPatch, WindowState,
};
use crate::domain::prerequisite::PrerequisiteKind;
use crate::domain::project::{Category, InvestmentType, Stage};
use crate::domain::values::{day_number, from_day_number};
use crate::events::outbox::{self as events, EventDraft};
use crate::proto::v1;
use crate::service::ServiceError;

/// Filters and order of ListFundingWindows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowQuery {
    pub channel: Option<FundingChannel>,
    pub state: Option<WindowState>,
    pub status_date: NaiveDate,
    pub by_open_date: bool,
    pub descending: bool,
    pub after: Option<Cursor>,
    pub limit: u64,
}

fn join<T>(items: &[T], name: impl Fn(&T) -> &'static str) -> String {
    items.iter().map(name).collect::<Vec<_>>().join(",")
}

fn split<T>(text: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, ServiceError> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            parse(s).ok_or_else(|| {
                ServiceError::internal(format!("stored enum value {s:?} is unknown"))
            })
        })
        .collect()
}

pub(crate) fn to_domain(row: funding_window::Model) -> Result<FundingWindow, ServiceError> {
    let channel = FundingChannel::parse(&row.channel).ok_or_else(|| {
        ServiceError::internal(format!("stored channel {:?} is unknown", row.channel))
    })?;
    let investment_type = match &row.eligible_investment_type {
        Some(t) => Some(InvestmentType::parse(t).ok_or_else(|| {
            ServiceError::internal(format!("stored investment type {t:?} is unknown"))
        })?),
        None => None,
    };
    Ok(FundingWindow {
        fields: WindowFields {
            channel,
            title: row.title,
            description: row.description,
            open_date: from_day_number(row.open_date),
            close_date: from_day_number(row.close_date),
            target_count: row.target_count,
            target_amount_yuan: row.target_amount_yuan,
            eligibility: Eligibility {
                stages: split(&row.eligible_stages, Stage::parse)?,
                categories: split(&row.eligible_categories, Category::parse)?,
                investment_type,
                min_total_investment_yuan: row.min_total_investment_yuan,
                required_prerequisites: split(
                    &row.required_prerequisites,
                    PrerequisiteKind::parse,
                )?,
            },
        },
        id: row.window_id,
        uid: row.uid,
        created_at_us: row.created_at_us,
        updated_at_us: row.updated_at_us,
        version: row.version,
    })
}

fn write_fields(model: &mut funding_window::ActiveModel, f: &WindowFields) {
    let e = &f.eligibility;
    model.channel = Set(f.channel.as_str().to_string());
    model.title = Set(f.title.clone());
    model.description = Set(f.description.clone());
    model.open_date = Set(day_number(f.open_date));
    model.close_date = Set(day_number(f.close_date));
    model.target_count = Set(f.target_count);
    model.target_amount_yuan = Set(f.target_amount_yuan);
    model.eligible_stages = Set(join(&e.stages, |s| s.as_str()));
    model.eligible_categories = Set(join(&e.categories, |c| c.as_str()));
    model.eligible_investment_type = Set(e.investment_type.map(|t| t.as_str().to_string()));
    model.min_total_investment_yuan = Set(e.min_total_investment_yuan);
    model.required_prerequisites = Set(join(&e.required_prerequisites, |k| k.as_str()));
}

fn window_event(
    kind: v1::EventKind,
    window: &FundingWindow,
    changed: Vec<&'static str>,
) -> EventDraft {
    EventDraft::global(
        kind,
        window.name(),
        Some(v1::event::Detail::FundingWindowAfter(
            v1::FundingWindow::from(window),
        )),
        changed,
    )
}

impl Store {
    pub async fn create_funding_window(
        &self,
        ctx: &WriteContext,
        window_id: Option<String>,
        fields: WindowFields,
        key: Option<&RequestKey>,
    ) -> Result<Outcome<FundingWindow>, ServiceError> {
        // Only admins get here (the auth layer's role check); windows have no scope.
        let tx = match self.begin_keyed(ctx, key, async |_| Ok(())).await? {
            Ok((tx, ())) => tx,
            Err(first) => return Ok(Outcome::Replayed(first)),
        };
        let id = window_id.unwrap_or_else(crate::domain::names::generate_id);
        let mut model = funding_window::ActiveModel {
            window_id: Set(id.clone()),
            uid: Set(uuid::Uuid::new_v4().to_string()),
            created_at_us: Set(ctx.now_us),
            updated_at_us: Set(ctx.now_us),
            version: Set(1),
            ..Default::default()
        };
        write_fields(&mut model, &fields);
        let row = model
            .insert(&tx)
            .await
            .map_err(|err| match unique_violation(&err) {
                Some(_) => ServiceError::AlreadyExists {
                    resource: format!("fundingWindows/{id}"),
                    field: "funding_window_id".into(),
                },
                None => db_error(err),
            })?;
        let window = to_domain(row)?;
        let message = v1::FundingWindow::from(&window);
        let draft = window_event(v1::EventKind::FundingWindowCreated, &window, Vec::new());
        finish(
            self,
            tx,
            ctx,
            vec![draft],
            key,
            || message.encode_to_vec(),
            window,
        )
        .await
    }

    pub async fn get_funding_window(&self, id: &str) -> Result<FundingWindow, ServiceError> {
        let row = funding_window::Entity::find()
            .filter(funding_window::Column::WindowId.eq(id))
            .one(self.connection())
            .await
            .map_err(db_error)?
            .ok_or_else(|| ServiceError::not_found(format!("fundingWindows/{id}")))?;
        to_domain(row)
    }

    pub async fn list_funding_windows(
        &self,
        query: &WindowQuery,
    ) -> Result<Page<FundingWindow>, ServiceError> {
        let day = day_number(query.status_date);
        let mut condition = Condition::all();
        if let Some(channel) = query.channel {
            condition = condition.add(funding_window::Column::Channel.eq(channel.as_str()));
        }
        condition = match query.state {
            None => condition,
            Some(WindowState::Upcoming) => condition.add(funding_window::Column::OpenDate.gt(day)),
            Some(WindowState::Open) => condition
                .add(funding_window::Column::OpenDate.lte(day))
                .add(funding_window::Column::CloseDate.gte(day)),
            Some(WindowState::Closed) => condition.add(funding_window::Column::CloseDate.lt(day)),
        };
        let column = if query.by_open_date {
            funding_window::Column::OpenDate
        } else {
            funding_window::Column::CloseDate
        };
        if let Some(after) = &query.after {
            condition = condition.add(after.after(
                column,
                funding_window::Column::WindowId,
                query.descending,
            ));
        }
        let order = if query.descending {
            Order::Desc
        } else {
            Order::Asc
        };
        let rows = funding_window::Entity::find()
            .filter(condition)
            .order_by(column, order.clone())
            .order_by(funding_window::Column::WindowId, order)
            .limit(query.limit + 1)
            .all(self.connection())
            .await
            .map_err(db_error)?;
        super::page(rows, query.limit, to_domain, |last| Cursor {
            key: SortKey::Int(day_number(if query.by_open_date {
                last.fields.open_date
            } else {
                last.fields.close_date
            }) as i64),
            id: last.id.clone(),
        })
    }

    pub async fn update_funding_window(
        &self,
        ctx: &WriteContext,
        id: &str,
        patch: WindowPatch,
        etag: Option<&str>,
    ) -> Result<FundingWindow, ServiceError> {
        let tx = self.begin_write().await?;
        let row = funding_window::Entity::find()
            .filter(funding_window::Column::WindowId.eq(id))
            .lock_exclusive()
            .one(&tx)
            .await
            .map_err(db_error)?
            .ok_or_else(|| ServiceError::not_found(format!("fundingWindows/{id}")))?;
        let pk = row.id;
        let mut window = to_domain(row)?;
        check_etag(etag, window.name(), window.etag())?;
        let changed = patch.apply(&mut window.fields);
        if let Err((field, problem)) = window.fields.check() {
            return Err(ServiceError::invalid(
                format!("funding_window.{field}"),
                problem,
            ));
        }
        if changed.is_empty() {
            return Ok(window);
        }
        window.version += 1;
        window.updated_at_us = ctx.now_us;
        let mut model = funding_window::ActiveModel {
            id: sea_orm::Unchanged(pk),
            version: Set(window.version),
            updated_at_us: Set(ctx.now_us),
            ..Default::default()
        };
        write_fields(&mut model, &window.fields);
        model.update(&tx).await.map_err(db_error)?;
        events::append(
            &tx,
            &ctx.actor,
            ctx.now_us,
            vec![window_event(
                v1::EventKind::FundingWindowUpdated,
                &window,
                changed,
            )],
        )
        .await?;
        self.commit(tx).await?;
        Ok(window)
    }
}
