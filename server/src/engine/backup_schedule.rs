//! The backup scheduler: each instance is backed up when its policy's
//! last slot (today's hour, or Monday's for weekly policies) has passed
//! since it was last backed up, so that a dpe that was down at that hour
//! catches up when it starts. A few at a time: a backup job reads the
//! whole disk and weighs on its host. The same pass applies retention to
//! deleted instances' backups, and fails backups a crash left running
//! with no task.

use std::sync::Arc;

use app::model::{BackupFrequency, BackupPolicy};

use super::EngineError;
use super::runtime::Engine;
use crate::store::backups;

/// How many scheduled backups one pass starts.
const PER_PASS: usize = 2;

const DAY: i64 = 86_400;

/// The start of the policy's most recent slot at or before `now` (Unix
/// seconds, UTC); `None` when it schedules nothing.
pub fn last_slot(policy: &BackupPolicy, now: i64) -> Option<i64> {
    let hour = i64::from(policy.hour) * 3600;
    match policy.frequency {
        BackupFrequency::Off => None,
        BackupFrequency::Daily => {
            let today = now.div_euclid(DAY) * DAY + hour;
            Some(if today <= now { today } else { today - DAY })
        }
        BackupFrequency::Weekly => {
            let days = now.div_euclid(DAY);
            // 1 January 1970 was a Thursday: Monday is 0.
            let weekday = (days + 3).rem_euclid(7);
            let monday = (days - weekday) * DAY + hour;
            Some(if monday <= now {
                monday
            } else {
                monday - 7 * DAY
            })
        }
    }
}

impl Engine {
    /// One pass of the scheduler at `now` (Unix seconds): the backups it
    /// started, as (instance id, backup id).
    pub async fn schedule_backups(
        self: &Arc<Self>,
        now: i64,
    ) -> Result<Vec<(i64, i64)>, EngineError> {
        let leftovers = self.store.read(backups::orphaned_running).await?;
        for row in leftovers {
            tracing::warn!(
                backup = row.id,
                "a backup left running by a crash is failed"
            );
            self.store
                .write(move |tx| backups::set_failed(tx, row.id, "the backup was interrupted"))
                .await?;
        }
        let due = self
            .store
            .read(move |c| {
                let mut due = Vec::new();
                for candidate in backups::candidates(c)? {
                    let policy = backups::effective_policy(c, candidate.department_id)?;
                    if last_slot(&policy, now).is_some_and(|slot| candidate.since < slot) {
                        due.push(candidate.instance_id);
                    }
                }
                Ok(due)
            })
            .await?;
        let mut started = Vec::new();
        for instance in due.into_iter().take(PER_PASS) {
            match self.submit_backup(instance, None, now).await {
                Ok(accepted) => started.push((instance, accepted.id)),
                Err(e) => tracing::warn!(instance, error = %crate::error_chain(&e),
                    "a scheduled backup could not start"),
            }
        }
        if let Err(e) = self.back_up_store_if_due(now).await {
            tracing::warn!(error = %crate::error_chain(&e), "the store's backup failed");
        }
        for uuid in self.store.read(backups::of_deleted_instances).await? {
            if let Err(e) = self.apply_retention(&uuid).await {
                tracing::warn!(uuid, error = %crate::error_chain(&e),
                    "retention of a deleted instance's backups failed");
            }
        }
        Ok(started)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(frequency: BackupFrequency, hour: u8) -> BackupPolicy {
        BackupPolicy {
            frequency,
            hour,
            keep: 3,
            drill: BackupFrequency::Weekly,
        }
    }

    // 2026-12-07 is a Monday.
    const MONDAY_MIDNIGHT: i64 = 1_796_601_600;

    #[test]
    fn a_daily_slot_is_todays_hour_once_it_has_come_and_yesterdays_before() {
        let daily = policy(BackupFrequency::Daily, 2);
        let at_three = MONDAY_MIDNIGHT + 3 * 3600;
        assert_eq!(
            last_slot(&daily, at_three),
            Some(MONDAY_MIDNIGHT + 2 * 3600)
        );
        let at_one = MONDAY_MIDNIGHT + 3600;
        assert_eq!(
            last_slot(&daily, at_one),
            Some(MONDAY_MIDNIGHT - DAY + 2 * 3600)
        );
        assert_eq!(
            last_slot(&daily, MONDAY_MIDNIGHT + 2 * 3600),
            Some(MONDAY_MIDNIGHT + 2 * 3600),
            "the hour itself is its slot"
        );
    }

    #[test]
    fn a_weekly_slot_is_mondays_hour() {
        let weekly = policy(BackupFrequency::Weekly, 23);
        let sunday_noon = MONDAY_MIDNIGHT - 12 * 3600;
        assert_eq!(
            last_slot(&weekly, sunday_noon),
            Some(MONDAY_MIDNIGHT - 7 * DAY + 23 * 3600)
        );
        let tuesday = MONDAY_MIDNIGHT + DAY + 3600;
        assert_eq!(
            last_slot(&weekly, tuesday),
            Some(MONDAY_MIDNIGHT + 23 * 3600)
        );
    }

    #[test]
    fn an_off_policy_has_no_slot() {
        assert_eq!(
            last_slot(&policy(BackupFrequency::Off, 2), MONDAY_MIDNIGHT),
            None
        );
    }
}
