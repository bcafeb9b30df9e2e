//! What the reconciler finds on the hosts that no record of the store
//! explains: removed as leftovers of a crash, or kept while the store is
//! one restored from a copy (which knows nothing deployed since).

use serde::{Deserialize, Serialize};

use super::Power;
use super::states::text_enum;

text_enum! {
    /// What a leftover is.
    pub enum LeftoverKind {
        /// A domain (a guest) carrying this appliance's metadata.
        Domain = "domain",
        /// A volume named as this appliance names its volumes.
        Volume = "volume",
    }
}

/// `GET /api/v1/orphans`: what the reconciler kept and what it removed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Leftovers {
    /// Since when (Unix seconds) leftovers are kept, not removed: set by
    /// `dpe restore-store`, since a restored store does not know what
    /// was deployed after its copy; cleared when an admin lets the
    /// reconciler remove them. Null: leftovers are removed as found.
    pub held_since: Option<i64>,
    /// What is kept, as of each host's last look.
    pub held: Vec<HeldLeftover>,
    /// What the reconciler removed since dpe started, oldest first.
    pub cleaned: Vec<String>,
}

/// One thing a host holds that the store does not know, kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct HeldLeftover {
    pub host: String,
    pub kind: LeftoverKind,
    /// The instance's name (a domain's, if it carries no record), or the
    /// volume's.
    pub name: String,
    /// A domain's instance UUID, from its metadata.
    pub instance_uuid: Option<String>,
    /// A domain's owner, from its metadata.
    pub owner: Option<String>,
    /// A domain's power state.
    pub power: Option<Power>,
    /// Whether it can be adopted as an instance: a domain whose metadata
    /// records what its instance was (dpe writes it at define time, and
    /// the reconciler into older instances' domains).
    pub adoptable: bool,
    /// An adoptable domain's volumes (its disk, seed, log): adopted with
    /// it, and not listed on their own.
    #[serde(default)]
    pub volumes: Vec<String>,
}

impl Leftovers {
    /// What the dashboard says of the kept ones, or None if none are kept.
    pub fn held_notice(&self) -> Option<String> {
        self.held_since?;
        let domains = self
            .held
            .iter()
            .filter(|h| h.kind == LeftoverKind::Domain)
            .count();
        let volumes = self
            .held
            .iter()
            .map(|h| match h.kind {
                LeftoverKind::Domain => h.volumes.len(),
                LeftoverKind::Volume => 1,
            })
            .sum::<usize>();
        Some(format!(
            "The store was restored from a copy. Guests and volumes on the hosts that it does not know \
             are kept, not removed: {domains} {} and {volumes} {} now.",
            if domains == 1 { "guest" } else { "guests" },
            if volumes == 1 { "volume" } else { "volumes" },
        ))
    }
}

/// `POST /api/v1/orphans/adopt`: a kept guest becomes an instance again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AdoptRequest {
    /// The kept guest's instance UUID (`held[].instance_uuid`).
    #[cfg_attr(feature = "ssr", schema(min_length = 1, max_length = 64))]
    pub instance_uuid: String,
    /// Whose instance it becomes; absent: the owner its metadata names,
    /// who must be an account of this appliance.
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(min_length = 1, max_length = 256))]
    pub owner: Option<String>,
}

/// An adopted guest's instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Adopted {
    pub instance_id: i64,
}
