//! The stack's versions: each golden image registered, one current.

use serde::{Deserialize, Serialize};

/// One version of the stack, as `GET /api/v1/stack/versions` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StackVersionView {
    pub id: i64,
    /// Read from the image (`dokuwiki 2025-05-14a on Debian 12.11`), or
    /// the checksum's first 12 hex digits when it says nothing.
    pub label: String,
    /// The disk image's SHA-256, in hex.
    pub sha256: String,
    /// Deploys and new warm members use it.
    pub current: bool,
    /// How many instances run it.
    pub instances: u64,
    /// When it was registered (RFC 3339).
    pub added_at: String,
    /// Its packages against the current version's: `+ name version`
    /// added, `- name version` removed, `name old → new` changed; at most
    /// a few lines, then how many more. Empty for the current one.
    pub changes: Vec<String>,
}

/// `GET /api/v1/stack/versions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StackVersions {
    /// Newest first.
    pub versions: Vec<StackVersionView>,
}

/// The version an instance runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct InstanceVersion {
    pub id: i64,
    pub label: String,
    /// Another version is current.
    pub update_available: bool,
    /// What the current version changes against it (see
    /// [`StackVersionView::changes`]); empty when it is current.
    pub changes: Vec<String>,
}
