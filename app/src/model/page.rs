//! Lists a page at a time: what every paged list answers, and how long
//! its pages are.

use serde::{Deserialize, Serialize};

/// Rows per page when a query does not say.
pub const DEFAULT_LIMIT: u32 = 50;
/// The most rows one page holds.
pub const MAX_LIMIT: u32 = 200;

/// One page of a list. The REST API sends `items` as the body and `next`
/// in the `Link` header; the portal's server functions send both.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// The cursor of the page after, if there are more: given back with
    /// the same filters and order, it continues the list where this page
    /// ended.
    pub next: Option<String>,
}

impl<T> Page<T> {
    /// Each item changed by `f`, on the same cursor.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}
