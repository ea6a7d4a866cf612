//! Page sizes and opaque keyset page tokens. A token holds the sort key and id of the last row
//! returned and a fingerprint of the filter and order it was issued for; it is base64url text
//! so clients treat it as opaque.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use prost::Message;

use crate::proto::budget;
use crate::store::{Cursor, Page, SortKey};

pub const DEFAULT_PAGE_SIZE: u64 = 50;
pub const MAX_PAGE_SIZE: u64 = 1000;

/// 0 means the default, above the maximum is clamped, negative is an error.
pub fn page_size(requested: i32) -> Result<u64, String> {
    match requested {
        n if n < 0 => Err(format!("must not be negative, got {n}")),
        0 => Ok(DEFAULT_PAGE_SIZE),
        n => Ok((n as u64).min(MAX_PAGE_SIZE)),
    }
}

/// A stable fingerprint of what a listing was asked for (filter, order, parent).
pub fn fingerprint(parts: &[&str]) -> String {
    let hash = parts.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, part| {
        part.bytes()
            .chain(std::iter::once(0xff))
            .fold(hash, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            })
    });
    format!("{hash:016x}")
}

pub fn encode(fingerprint: &str, cursor: &Cursor) -> String {
    let key = match &cursor.key {
        SortKey::Int(v) => format!("i{v}"),
        SortKey::Text(v) => format!("s{v}"),
    };
    URL_SAFE_NO_PAD.encode(format!("1\n{fingerprint}\n{}\n{key}", cursor.id))
}

/// Decodes a token issued for `fingerprint`; empty means the first page.
pub fn decode(token: &str, fingerprint: &str) -> Result<Option<Cursor>, String> {
    if token.is_empty() {
        return Ok(None);
    }
    let malformed = || "is not a page token issued by this service".to_string();
    if token.len() > 4096 {
        return Err(malformed());
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| malformed())?;
    let text = String::from_utf8(bytes).map_err(|_| malformed())?;
    let mut parts = text.splitn(4, '\n');
    let (Some("1"), Some(print), Some(id), Some(key)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    if print != fingerprint {
        return Err("was issued for a different filter or order_by".into());
    }
    let key = match key.split_at_checked(1) {
        Some(("i", v)) => SortKey::Int(v.parse().map_err(|_| malformed())?),
        Some(("s", v)) => SortKey::Text(v.to_string()),
        _ => return Err(malformed()),
    };
    Ok(Some(Cursor {
        key,
        id: id.to_string(),
    }))
}

/// The items of `page` as messages, and the token of the page after them (empty at the end).
/// A page also stops before the item that would take the response past `max_message_bytes`
/// (less `budget::LIST_MARGIN` for its other fields); the token then resumes right after the
/// last item sent. One item always fits (`budget::MAX_RESOURCE_BYTES`), and at least one is
/// sent, so paging always advances.
pub fn fit<T, M: Message>(
    page: Page<T>,
    max_message_bytes: usize,
    fingerprint: &str,
    convert: impl FnMut(&T) -> M,
) -> (Vec<M>, String) {
    let mut messages: Vec<M> = page.items.iter().map(convert).collect();
    let room = max_message_bytes.saturating_sub(budget::LIST_MARGIN);
    let kept = budget::fitting(&messages, room).max(1).min(messages.len());
    let resume = if kept < messages.len() {
        page.cursors.get(kept - 1)
    } else if page.more {
        page.cursors.last()
    } else {
        None
    };
    messages.truncate(kept);
    let token = resume
        .map(|cursor| encode(fingerprint, cursor))
        .unwrap_or_default();
    (messages, token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_mismatch() {
        let cursor = Cursor {
            key: SortKey::Text("县水网\n一期".into()),
            id: "abc".into(),
        };
        let print = fingerprint(&["stage = RESERVE", "display_name"]);
        let token = encode(&print, &cursor);
        assert_eq!(decode(&token, &print).unwrap(), Some(cursor));
        assert!(decode(&token, &fingerprint(&["", "display_name"])).is_err());
        assert!(decode("garbage!", &print).is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("1\nx"), &print).is_err());
        assert_eq!(decode("", &print).unwrap(), None);
        assert_ne!(fingerprint(&["a", "bc"]), fingerprint(&["ab", "c"]));
    }

    #[test]
    fn pages_are_cut_to_the_message_limit() {
        let item = |i: usize| crate::proto::v1::Project {
            name: format!("projects/p{i}"),
            description: "县".repeat(1000),
            ..Default::default()
        };
        let cursor = |i: usize| Cursor {
            key: SortKey::Int(i as i64),
            id: format!("p{i}"),
        };
        let page = |n: usize, more: bool| Page {
            items: (0..n).collect::<Vec<_>>(),
            cursors: (0..n).map(cursor).collect(),
            more,
        };
        let one = budget::entry_len(&item(0));
        let print = fingerprint(&["projects"]);
        let limit = budget::LIST_MARGIN + 3 * one + one / 2;
        // Cut after three; the token resumes after the third.
        let (items, token) = fit(page(10, false), limit, &print, |i| item(*i));
        assert_eq!(items.len(), 3);
        assert_eq!(decode(&token, &print).unwrap(), Some(cursor(2)));
        // Everything fits: the store's own answer stands.
        let (items, token) = fit(page(3, false), limit, &print, |i| item(*i));
        assert_eq!((items.len(), token.as_str()), (3, ""));
        let (items, token) = fit(page(3, true), limit, &print, |i| item(*i));
        assert_eq!(items.len(), 3);
        assert_eq!(decode(&token, &print).unwrap(), Some(cursor(2)));
        // A limit below one item still sends one, so paging advances.
        let (items, token) = fit(page(2, false), 10, &print, |i| item(*i));
        assert_eq!(items.len(), 1);
        assert_eq!(decode(&token, &print).unwrap(), Some(cursor(0)));
        let (items, token) = fit(page(0, false), limit, &print, |i| item(*i));
        assert!(items.is_empty() && token.is_empty());
    }

    #[test]
    fn sizes() {
        assert_eq!(page_size(0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(5000).unwrap(), MAX_PAGE_SIZE);
        assert!(page_size(-1).is_err());
    }
}
