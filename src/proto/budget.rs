//! What any one message may take on the wire. The server's message limit
//! (`serve --max-message-bytes`) is at least 64 KiB; a resource, an event or a single-resource
//! response is held to `MAX_RESOURCE_BYTES` below that by construction (text limits, bounded
//! repeated fields, reports cut to documented sizes), and lists cut their pages by encoded size,
//! so whatever the service accepts it can also send back. The tests named `worst_case_*` build
//! every message at its bounds and check it against these figures.

use prost::Message;

/// The smallest message limit a server may be configured with.
pub const MIN_MESSAGE_LIMIT: usize = 64 * 1024;

/// The most one resource, one event, the events of one transaction, or one single-resource
/// response may take when encoded: the smallest limit less `LIST_MARGIN`, so that one item
/// always fits in a list page, whatever the limit.
pub const MAX_RESOURCE_BYTES: usize = MIN_MESSAGE_LIMIT - LIST_MARGIN;

/// What a list response keeps for everything but its items: the next page token (at most
/// about 1.2 KiB), totals and headers of reports.
pub const LIST_MARGIN: usize = 4 * 1024;

/// The bytes `message` adds to a repeated field of its parent: its tag (counted as two bytes,
/// enough for any field number below 2048), its length and its body.
pub fn entry_len(message: &impl Message) -> usize {
    let body = message.encoded_len();
    2 + prost::length_delimiter_len(body) + body
}

/// How many of `items`, from the first, fit in `budget` bytes as entries of a repeated field.
pub fn fitting<M: Message>(items: &[M], budget: usize) -> usize {
    let mut used = 0;
    items
        .iter()
        .take_while(|item| {
            used += entry_len(*item);
            used <= budget
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::v1;

    #[test]
    fn entries_are_counted_with_their_framing() {
        let tally = v1::ProjectTally {
            key: "城关镇".into(),
            ..Default::default()
        };
        let parent = v1::PipelineSummary {
            by_township: vec![tally.clone(); 3],
            ..Default::default()
        };
        assert!(3 * entry_len(&tally) >= parent.encoded_len());
        let items = vec![tally.clone(); 10];
        assert_eq!(fitting(&items, 3 * entry_len(&tally)), 3);
        assert_eq!(fitting(&items, 3 * entry_len(&tally) - 1), 2);
        assert_eq!(fitting(&items, usize::MAX / 2), 10);
    }
}
