//! The repository of funding windows: rows to `FundingWindow` and back, and the listing.

use chrono::NaiveDate;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait,
    Order, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::entities::funding_window;
use super::error::{StoreError, conflict_on};
use super::{Cursor, Page, SortKey, Store};
use crate::domain::funding::{
    Eligibility, FundingChannel, FundingWindow, WindowFields, WindowState,
};
use crate::domain::prerequisite::PrerequisiteKind;
use crate::domain::project::{Category, InvestmentType, Stage};
use crate::domain::values::{day_number, from_day_number};

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

fn split<T>(text: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, StoreError> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| {
            parse(s)
                .ok_or_else(|| StoreError::corrupt(format!("stored enum value {s:?} is unknown")))
        })
        .collect()
}

pub(crate) fn to_domain(row: funding_window::Model) -> Result<FundingWindow, StoreError> {
    let channel = FundingChannel::parse(&row.channel).ok_or_else(|| {
        StoreError::corrupt(format!("stored channel {:?} is unknown", row.channel))
    })?;
    let investment_type = match &row.eligible_investment_type {
        Some(t) => Some(InvestmentType::parse(t).ok_or_else(|| {
            StoreError::corrupt(format!("stored investment type {t:?} is unknown"))
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

fn not_found(id: &str) -> StoreError {
    StoreError::not_found(format!("fundingWindows/{id}"))
}

/// Inserts a new window; its id taken is a conflict on `funding_window_id`.
pub async fn insert(tx: &DatabaseTransaction, window: &FundingWindow) -> Result<(), StoreError> {
    let mut model = funding_window::ActiveModel {
        window_id: Set(window.id.clone()),
        uid: Set(window.uid.clone()),
        created_at_us: Set(window.created_at_us),
        updated_at_us: Set(window.updated_at_us),
        version: Set(window.version),
        ..Default::default()
    };
    write_fields(&mut model, &window.fields);
    model.insert(tx).await.map_err(|err| {
        // The window id is the table's only unique key besides the primary key.
        conflict_on(err, &[("", &|| window.name(), "funding_window_id")])
    })?;
    Ok(())
}

/// A window by its id, with its primary key.
pub async fn find(
    conn: &impl ConnectionTrait,
    id: &str,
) -> Result<(i64, FundingWindow), StoreError> {
    let row = funding_window::Entity::find()
        .filter(funding_window::Column::WindowId.eq(id))
        .one(conn)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok((row.id, to_domain(row)?))
}

/// A window by its primary key (the scanner's candidates).
pub async fn by_pk(conn: &impl ConnectionTrait, pk: i64) -> Result<FundingWindow, StoreError> {
    let row = funding_window::Entity::find_by_id(pk)
        .one(conn)
        .await?
        .ok_or_else(|| StoreError::corrupt("a scanned window vanished"))?;
    to_domain(row)
}

/// A window by its id, locked against concurrent writers until the transaction ends.
pub async fn lock(tx: &DatabaseTransaction, id: &str) -> Result<(i64, FundingWindow), StoreError> {
    let row = funding_window::Entity::find()
        .filter(funding_window::Column::WindowId.eq(id))
        .lock_exclusive()
        .one(tx)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok((row.id, to_domain(row)?))
}

/// Writes a window's fields, version and update time.
pub async fn save(
    tx: &DatabaseTransaction,
    pk: i64,
    window: &FundingWindow,
) -> Result<(), StoreError> {
    let mut model = funding_window::ActiveModel {
        id: sea_orm::Unchanged(pk),
        version: Set(window.version),
        updated_at_us: Set(window.updated_at_us),
        ..Default::default()
    };
    write_fields(&mut model, &window.fields);
    model.update(tx).await?;
    Ok(())
}

impl Store {
    pub async fn get_funding_window(&self, id: &str) -> Result<FundingWindow, StoreError> {
        Ok(find(self.connection(), id).await?.1)
    }

    pub async fn list_funding_windows(
        &self,
        query: &WindowQuery,
    ) -> Result<Page<FundingWindow>, StoreError> {
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
            .await?;
        super::page(rows, query.limit, to_domain, |last| Cursor {
            key: SortKey::Int(day_number(if query.by_open_date {
                last.fields.open_date
            } else {
                last.fields.close_date
            }) as i64),
            id: last.id.clone(),
        })
    }
}
