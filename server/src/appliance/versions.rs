//! The stack's versions for the admins' API, and what an instance's
//! update would change. The engine registers them and uses the current
//! one (`engine/versions.rs`).

use std::collections::{BTreeMap, HashMap};

use app::error::AppError;
use app::model::{InstanceView, StackVersionView, StackVersions};
use app::policy::{Authorized, rights};
use app::service::StackVersionService;
use async_trait::async_trait;

use super::Appliance;
use super::errors::{engine_err, store_err};
use crate::clock::rfc3339;
use crate::engine::EngineError;
use crate::store::audit::Audit;
use crate::store::stack_versions::{self, VersionRow};

/// How many package changes a list shows before "and N more".
const SHOWN_CHANGES: usize = 8;

/// What going from the package list `from` to `to` changes (lines of
/// `name version`): upgraded (or downgraded) packages, then added, then
/// removed ones, each by name; at most [`SHOWN_CHANGES`] lines and then
/// how many more.
pub fn package_changes(from: &str, to: &str) -> Vec<String> {
    let parse = |text: &str| -> BTreeMap<String, String> {
        text.lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                Some((words.next()?.to_owned(), words.next()?.to_owned()))
            })
            .collect()
    };
    let (from, to) = (parse(from), parse(to));
    let mut changed = Vec::new();
    let mut added = Vec::new();
    let mut removed = Vec::new();
    for (name, new) in &to {
        match from.get(name) {
            Some(old) if old != new => changed.push(format!("{name} {old} → {new}")),
            Some(_) => {}
            None => added.push(format!("+ {name} {new}")),
        }
    }
    for (name, old) in &from {
        if !to.contains_key(name) {
            removed.push(format!("- {name} {old}"));
        }
    }
    let mut all: Vec<String> = changed.into_iter().chain(added).chain(removed).collect();
    if all.len() > SHOWN_CHANGES {
        let more = all.len() - SHOWN_CHANGES;
        all.truncate(SHOWN_CHANGES);
        all.push(format!("and {more} more"));
    }
    all
}

impl Appliance {
    async fn versions_view(&self) -> Result<StackVersions, AppError> {
        let stack = self.engine.stack().manifest.name.clone();
        let rows = self
            .store
            .read(move |c| stack_versions::list(c, &stack))
            .await
            .map_err(store_err)?;
        let current = rows.iter().find(|(v, _)| v.current).map(|(v, _)| v.clone());
        Ok(StackVersions {
            versions: rows
                .into_iter()
                .map(|(v, instances)| StackVersionView {
                    changes: match &current {
                        Some(c) if !v.current => package_changes(&c.packages, &v.packages),
                        Some(_) | None => Vec::new(),
                    },
                    id: v.id,
                    label: v.label,
                    sha256: v.sha256,
                    current: v.current,
                    instances,
                    added_at: rfc3339(v.added_at),
                })
                .collect(),
        })
    }

    /// Fills in what an update would change for each instance that does
    /// not run the current version (one read for them all).
    pub(super) async fn with_version_changes(
        &self,
        mut views: Vec<InstanceView>,
    ) -> Result<Vec<InstanceView>, AppError> {
        if !views
            .iter()
            .any(|v| v.version.as_ref().is_some_and(|v| v.update_available))
        {
            return Ok(views);
        }
        let stack = self.engine.stack().manifest.name.clone();
        let rows: HashMap<i64, VersionRow> = self
            .store
            .read(move |c| stack_versions::list(c, &stack))
            .await
            .map_err(store_err)?
            .into_iter()
            .map(|(v, _)| (v.id, v))
            .collect();
        let Some(current) = rows.values().find(|v| v.current) else {
            return Ok(views);
        };
        let mut known: HashMap<i64, Vec<String>> = HashMap::new();
        for version in views.iter_mut().filter_map(|v| v.version.as_mut()) {
            if !version.update_available {
                continue;
            }
            version.changes = known
                .entry(version.id)
                .or_insert_with(|| {
                    rows.get(&version.id)
                        .map(|from| package_changes(&from.packages, &current.packages))
                        .unwrap_or_default()
                })
                .clone();
        }
        Ok(views)
    }
}

#[async_trait]
impl StackVersionService for Appliance {
    async fn stack_versions(
        &self,
        _who: Authorized<'_, rights::ManageStackVersions>,
    ) -> Result<StackVersions, AppError> {
        self.versions_view().await
    }

    async fn scan_stack_versions(
        &self,
        who: Authorized<'_, rights::ManageStackVersions>,
    ) -> Result<StackVersions, AppError> {
        let added = self.engine.scan_versions().await.map_err(|e| match e {
            // Not built yet, or being rebuilt: say so, not a 500.
            e @ EngineError::Image { .. } => {
                tracing::warn!(error = %crate::error_chain(&e), "cannot scan the stack's images");
                AppError::Unavailable("the stack's image cannot be read; build it first".into())
            }
            other => engine_err(other),
        })?;
        if added > 0 {
            let record = Audit::by(&who)
                .action("stack_versions.scan")
                .object("stack versions")
                .detail(format!("{added} registered"))
                .ok();
            self.audit(record).await;
        }
        self.versions_view().await
    }

    async fn make_stack_version_current(
        &self,
        who: Authorized<'_, rights::ManageStackVersions>,
        id: i64,
    ) -> Result<StackVersions, AppError> {
        if self
            .engine
            .make_version_current(id)
            .await
            .map_err(engine_err)?
        {
            let record = Audit::by(&who)
                .action("stack_version.current")
                .object(format!("stack version {id}"))
                .ok();
            self.audit(record).await;
        }
        self.versions_view().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_changes_list_upgrades_then_additions_then_removals() {
        let from = "dokuwiki 0.0.20230404a-1\nnginx 1.22.1-9\nold-lib 1.0\n";
        let to = "dokuwiki 0.0.20250514a-1\nnginx 1.22.1-9\nnew-lib 2.0\n";
        assert_eq!(
            package_changes(from, to),
            [
                "dokuwiki 0.0.20230404a-1 → 0.0.20250514a-1",
                "+ new-lib 2.0",
                "- old-lib 1.0"
            ]
        );
        assert!(package_changes(to, to).is_empty());
    }

    #[test]
    fn a_long_change_list_is_cut_short_with_how_many_more() {
        let to: String = (0..20).map(|i| format!("p{i:02} 1\n")).collect();
        let changes = package_changes("", &to);
        assert_eq!(changes.len(), SHOWN_CHANGES + 1);
        assert_eq!(changes.last().unwrap(), "and 12 more");
    }
}
