//! An instance's lease as its three columns of `instances` hold it, read
//! in one place for the instance statements (`instances.rs`), which the
//! lease statements (`leases.rs`) build on.

use app::model::LeaseStage;
use rusqlite::Row;

use super::states::text_column;

/// An instance's lease, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    /// Unix seconds.
    pub expires_at: i64,
    pub stage: LeaseStage,
    /// Once expired: unix seconds at which the instance is deleted.
    pub deletes_at: Option<i64>,
}

impl Lease {
    /// The lease from its three columns, from `index` on (expiry, stage,
    /// deletion); None when the instance has no expiry.
    pub(super) fn read(r: &Row<'_>, index: usize) -> rusqlite::Result<Option<Lease>> {
        let Some(expires_at) = r.get(index)? else {
            return Ok(None);
        };
        Ok(Some(Lease {
            expires_at,
            stage: text_column(r, index + 1)?,
            deletes_at: r.get(index + 2)?,
        }))
    }
}
