//! The appliance's own store, backed up into the backup store beside the
//! instances' backups: on the default policy's schedule, an online copy
//! (SQLite's backup API, writers go on) uploaded as a volume of the first
//! host's backup pool, `dpe-store-YYYYMMDDTHHMMSSZ.sqlite3`, the policy's
//! number of them kept. What a disaster recovery starts from
//! (`dpe restore-store`; README, *Disaster recovery*). The secret key
//! stays out: keep it apart.

use std::sync::Arc;

use super::EngineError;
use super::backup_schedule::last_slot;
use super::runtime::Engine;
use crate::blocking::run_blocking;
use crate::store::{StoreError, backups, hosts, settings};

/// What a store backup's volume name starts with.
pub const STORE_VOLUME_PREFIX: &str = "dpe-store-";

/// The volume name of a store backup taken at `at` (Unix seconds).
pub fn store_volume_name(at: i64) -> String {
    let when =
        time::OffsetDateTime::from_unix_timestamp(at).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{STORE_VOLUME_PREFIX}{:04}{:02}{:02}T{:02}{:02}{:02}Z.sqlite3",
        when.year(),
        u8::from(when.month()),
        when.day(),
        when.hour(),
        when.minute(),
        when.second()
    )
}

impl Engine {
    /// Backs the store up when the default policy's slot has passed since
    /// the last time: the volume's name, if it did.
    pub async fn back_up_store_if_due(
        self: &Arc<Self>,
        now: i64,
    ) -> Result<Option<String>, EngineError> {
        let (policy, last, first) = self
            .store
            .read(|c| {
                let last = settings::get(c, settings::STORE_BACKUP_AT)?
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(0);
                let first = hosts::list(c)?.into_iter().next();
                Ok((backups::default_policy(c)?, last, first))
            })
            .await?;
        match (last_slot(&policy, now), first) {
            (Some(slot), Some(first)) if last < slot => self
                .back_up_store_on(first, now, policy.keep)
                .await
                .map(Some),
            (Some(_) | None, Some(_) | None) => Ok(None),
        }
    }

    /// Copies the store into the first host's backup pool now, and keeps
    /// the newest `keep` copies: the new volume's name.
    pub async fn back_up_store(
        self: &Arc<Self>,
        now: i64,
        keep: u32,
    ) -> Result<String, EngineError> {
        let first = self
            .store
            .read(hosts::list)
            .await?
            .into_iter()
            .next()
            .ok_or(EngineError::HostDown("(none)".into()))?;
        self.back_up_store_on(first, now, keep).await
    }

    async fn back_up_store_on(
        self: &Arc<Self>,
        first: crate::store::hosts::HostRow,
        now: i64,
        keep: u32,
    ) -> Result<String, EngineError> {
        let host = self.connect(first.id).await?;
        // Into the store new backups go to.
        let pool = self
            .pool_for(&self.store_spec().await?)
            .unwrap_or_else(|| self.config.backup_pool.clone());
        let spool = tempfile::tempdir().map_err(|source| StoreError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
        let copy = spool.path().join("dpe.sqlite3");
        self.store.backup_to(copy.clone()).await?;
        let default = pool == self.config.backup_pool;
        self.ensure_backup_pool(host.clone(), &first, (!default).then_some(pool.as_str()))
            .await?;
        let name = store_volume_name(now);
        let volume = name.clone();
        run_blocking(move || {
            let mut file = std::fs::File::open(&copy).map_err(|source| StoreError::Io {
                path: copy.clone(),
                source,
            })?;
            let len = file
                .metadata()
                .map_err(|source| StoreError::Io {
                    path: copy.clone(),
                    source,
                })?
                .len();
            host.delete_volume(&pool, &volume)?;
            host.upload_volume(&pool, &volume, "raw", &mut file, len)?;
            let mut copies: Vec<String> = host
                .list_volumes(&pool)?
                .into_iter()
                .filter(|v| v.starts_with(STORE_VOLUME_PREFIX))
                .collect();
            // The names sort as their times do.
            copies.sort();
            let extra = copies.len().saturating_sub(keep.max(1) as usize);
            for old in &copies[..extra] {
                host.delete_volume(&pool, old)?;
            }
            drop(spool);
            Ok::<_, EngineError>(())
        })
        .await?;
        let at = now.to_string();
        self.store
            .write(move |tx| settings::set(tx, settings::STORE_BACKUP_AT, &at))
            .await?;
        tracing::info!(volume = name, "the store is backed up");
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_backups_name_tells_its_time_and_sorts_by_it() {
        assert_eq!(
            store_volume_name(1_796_601_600 + 2 * 3600 + 61),
            "dpe-store-20261207T020101Z.sqlite3"
        );
        assert!(store_volume_name(1_000) < store_volume_name(100_000));
    }
}
