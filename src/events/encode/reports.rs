//! The events of reports: a bulletin published.

use crate::domain::report::Bulletin;
use crate::events::outbox::EventDraft;
use crate::proto::v1;

/// BULLETIN_PUBLISHED: a bulletin belongs to no project; the event names it only.
pub fn published(bulletin: &Bulletin) -> EventDraft {
    EventDraft::global(
        v1::EventKind::BulletinPublished,
        bulletin.name(),
        None,
        Vec::new(),
    )
}
