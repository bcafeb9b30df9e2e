//! The stack's versions: each golden image found in the image directory
//! (the directory itself and each folder in it) is registered under its
//! checksum, with a label read from the `version` file the build writes
//! beside it, and its package list. Deploys and warm members use the
//! current version; an instance keeps the one it was cloned from. A
//! version nothing uses, and not current, is removed with its golden
//! volumes by the reconciler.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::EngineError;
use super::golden::{self, GoldenVolumes};
use super::guest::{Guest, Owner};
use super::hypervisor::Hypervisor;
use super::runtime::Engine;
use crate::blocking::run_blocking;
use crate::stack::Stack;
use crate::store::stack_versions::{self, NewVersion, VersionRow};

/// An image found on disk, not yet registered.
struct Found {
    dir: PathBuf,
    sha256: String,
    label: String,
    packages: String,
}

/// The label from the `version` file (`app=` and `os=` lines), or the
/// checksum's first 12 hex digits when there is none.
pub fn label_of(dir: &Path, sha256: &str) -> String {
    let text = std::fs::read_to_string(dir.join("version")).unwrap_or_default();
    let field = |key: &str| {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    match (field("app"), field("os")) {
        (Some(app), Some(os)) => format!("{app} on {os}"),
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => sha256[..12].to_owned(),
    }
}

/// The folders that may hold an image: the image directory and each
/// folder in it (hidden ones are a build's work in progress).
fn candidates(image_dir: &Path) -> Vec<PathBuf> {
    let mut dirs = vec![image_dir.to_owned()];
    if let Ok(entries) = std::fs::read_dir(image_dir) {
        let mut inner: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        inner.sort();
        dirs.extend(inner);
    }
    dirs
}

/// Every built image in the image directory. The directory's own image
/// is read first: an unreadable one fails (not built yet); a folder's is
/// skipped if it has no disk.
fn scan(stack: &Stack) -> Result<Vec<Found>, EngineError> {
    let disk = &stack.manifest.image.disk;
    let mut found = Vec::new();
    for (i, dir) in candidates(&stack.image_dir).into_iter().enumerate() {
        let file = dir.join(disk);
        if i > 0 && !file.is_file() {
            continue;
        }
        let identity = golden::identify(&file)?;
        found.push(Found {
            label: label_of(&dir, &identity.sha256),
            packages: std::fs::read_to_string(dir.join("packages")).unwrap_or_default(),
            sha256: identity.sha256,
            dir,
        });
    }
    Ok(found)
}

impl Engine {
    /// Registers the images in the image directory that are not yet
    /// versions (the first one ever becomes current, and instances from
    /// before versions run it; a new image in the current version's own
    /// folder, rebuilt in place, becomes current); returns how many were
    /// new.
    pub async fn scan_versions(&self) -> Result<usize, EngineError> {
        let stack = self.stack.clone();
        let found = run_blocking(move || scan(&stack)).await?;
        let name = self.stack.manifest.name.clone();
        let _one_at_a_time = self.golden_lock.lock().await;
        self.store
            .write(move |tx| {
                let mut added = 0;
                for f in &found {
                    let (_, new) = stack_versions::register(
                        tx,
                        &NewVersion {
                            stack: &name,
                            label: &f.label,
                            sha256: &f.sha256,
                            dir: &f.dir.to_string_lossy(),
                            packages: &f.packages,
                        },
                    )?;
                    if new {
                        added += 1;
                    }
                }
                if let Some(current) = stack_versions::current(tx, &name)? {
                    // The current version's folder rebuilt in place: its
                    // old image is gone, so the new one there takes over
                    // (as before versions, when a restart used the new
                    // build).
                    let rebuilt = found.iter().find(|f| {
                        f.dir.to_string_lossy() == current.dir && f.sha256 != current.sha256
                    });
                    if let Some(f) = rebuilt
                        && let Some(new) = stack_versions::by_sha256(tx, &f.sha256)?
                    {
                        stack_versions::make_current(tx, new.id)?;
                    }
                    let current = stack_versions::current(tx, &name)?.unwrap_or(current);
                    stack_versions::backfill(tx, current.id)?;
                }
                Ok(added)
            })
            .await
            .map_err(EngineError::from)
    }

    /// The current version; the image directory is scanned when there is
    /// none yet (the image was built after dpe started).
    pub(in crate::engine) async fn current_version(&self) -> Result<VersionRow, EngineError> {
        let name = self.stack.manifest.name.clone();
        let read = |name: String| async move {
            self.store
                .read(move |c| stack_versions::current(c, &name))
                .await
        };
        if let Some(v) = read(name.clone()).await? {
            return Ok(v);
        }
        self.scan_versions().await?;
        read(name.clone())
            .await?
            .ok_or_else(|| EngineError::NoStackVersion(name))
    }

    /// Makes a registered version current: deploys and new warm members
    /// use it from now on (members of the old one are recycled).
    /// `Ok(false)`: it already was.
    pub async fn make_version_current(&self, id: i64) -> Result<bool, EngineError> {
        let changed = self
            .store
            .write(move |tx| stack_versions::make_current(tx, id))
            .await?;
        self.reconcile_now.notify_one();
        Ok(changed)
    }

    /// The version a guest runs: an instance's own (recorded now if it
    /// had none), a drill's its backup's, a warm member's the current one.
    pub(in crate::engine) async fn version_of(
        &self,
        guest: &Guest,
    ) -> Result<VersionRow, EngineError> {
        match guest.owner {
            Owner::Instance { id, .. } => {
                // Read (and pinned) under the write lock, so a removal of
                // an unused version cannot cross it.
                let name = self.stack.manifest.name.clone();
                let pinned = self
                    .store
                    .write(move |tx| stack_versions::pin_instance(tx, id, &name))
                    .await?;
                match pinned {
                    Some(v) => Ok(v),
                    None => {
                        self.current_version().await?;
                        let name = self.stack.manifest.name.clone();
                        self.store
                            .write(move |tx| stack_versions::pin_instance(tx, id, &name))
                            .await?
                            .ok_or(EngineError::NoStackVersion(
                                self.stack.manifest.name.clone(),
                            ))
                    }
                }
            }
            // A drill boots what its backup holds: that version's kernel.
            Owner::Drill { id } => {
                match self
                    .store
                    .read(move |c| stack_versions::of_drill(c, id))
                    .await?
                {
                    Some(v) => Ok(v),
                    None => self.current_version().await,
                }
            }
            Owner::PoolMember { .. } => self.current_version().await,
        }
    }

    /// The golden volumes of `version` on `host`: those already there, or
    /// uploaded from the version's folder, whose image must still be the
    /// one registered.
    pub(in crate::engine) async fn golden_of(
        &self,
        host: Arc<dyn Hypervisor>,
        storage_dir: String,
        version: VersionRow,
    ) -> Result<GoldenVolumes, EngineError> {
        let _one_at_a_time = self.golden_lock.lock().await;
        let stack = self.stack.clone();
        let pool = self.config.storage_pool.clone();
        run_blocking(move || {
            host.ensure_pool(&pool, &storage_dir)?;
            let name = &stack.manifest.name;
            if let Some(found) = golden::present(host.as_ref(), &pool, name, &version.sha256)? {
                return Ok(found);
            }
            let dir = PathBuf::from(&version.dir);
            let image = &stack.manifest.image;
            let identity = golden::identify(&dir.join(&image.disk))?;
            if identity.sha256 != version.sha256 {
                return Err(EngineError::VersionImageChanged {
                    label: version.label.clone(),
                    dir,
                });
            }
            let kernel = image.kernel.as_ref().map(|k| dir.join(k));
            let initrd = image.initrd.as_ref().map(|i| dir.join(i));
            golden::ensure(
                host.as_ref(),
                &pool,
                name,
                &identity,
                &dir.join(&image.disk),
                kernel.as_deref(),
                initrd.as_deref(),
            )
        })
        .await
    }

    /// Removes the versions nothing uses and that are not current, and
    /// their golden volumes on `hosts` (every host, reached this pass).
    pub(in crate::engine) async fn remove_unused_versions(
        &self,
        hosts: &[Arc<dyn Hypervisor>],
    ) -> Result<(), EngineError> {
        let unused = self.store.read(stack_versions::unused).await?;
        for v in unused {
            let id = v.id;
            let _one_at_a_time = self.golden_lock.lock().await;
            if !self
                .store
                .write(move |tx| stack_versions::remove_if_unused(tx, id))
                .await?
            {
                continue;
            }
            tracing::info!(
                version = v.label,
                sha256 = v.sha256,
                "removing an unused stack version"
            );
            for host in hosts {
                let (host, pool, name, sha) = (
                    host.clone(),
                    self.config.storage_pool.clone(),
                    self.stack.manifest.name.clone(),
                    v.sha256.clone(),
                );
                let uri = host.uri().to_owned();
                if let Err(e) =
                    run_blocking(move || golden::remove(host.as_ref(), &pool, &name, &sha)).await
                {
                    tracing::warn!(uri, version = v.label, error = %crate::error_chain(&e),
                        "cannot remove an unused version's golden volumes");
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_comes_from_the_version_file_or_else_the_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let sha = "0123456789abcdef".repeat(4);
        assert_eq!(label_of(dir.path(), &sha), "0123456789ab");
        std::fs::write(
            dir.path().join("version"),
            "app=dokuwiki 2025-05-14a\nos=Debian 12.11\n",
        )
        .unwrap();
        assert_eq!(
            label_of(dir.path(), &sha),
            "dokuwiki 2025-05-14a on Debian 12.11"
        );
    }
}
