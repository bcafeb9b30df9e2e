//! The warm pool: guests booted ahead of time from the golden image with
//! no user's values, which a deploy claims (`admission.rs`) and
//! personalizes in place through the QEMU guest agent (`personalize`
//! below) instead of booting one. A member is built by the cold path's own
//! steps with an empty user-data, so its machine id, host keys and the
//! application's secrets are its own; it counts against its host's room,
//! never against anyone's quota, and it is in the inside zone only.
//!
//! `tend` runs after each reconcile pass: it recycles members of another
//! image, members over their size's target and members a restart cut off
//! while booting, and starts at most one new member per host at a time, so
//! refilling never takes a host's whole attention from user deploys.

mod claim;
pub(super) mod work;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::model::{HostMode, PoolState};

use super::EngineError;
use super::guest::Guest;
use super::placement::{Request, choose_host};
use super::readiness::Readiness;
use super::runtime::Engine;
use super::volumes;
use crate::stack::PersonalizeSpec;
use crate::store::hosts;
use crate::store::pool::{self, MemberRow, NewMember};

/// How long a new member may take to boot and answer as ready. Under
/// software emulation the DokuWiki image needs one to two minutes.
const READY_WITHIN: Duration = Duration::from_secs(15 * 60);
/// After a claim, a refill waits this long (and while one runs).
const AFTER_CLAIM: Duration = Duration::from_secs(20);
/// After a member failed to build, the next waits this long: a broken
/// image must not keep a host busy booting guests that never get ready.
const AFTER_FAILURE: Duration = Duration::from_secs(60);

/// The targets in force: the admin's, or the default of one member of
/// the stack's first size, unless every host `emulated` its guests (there
/// a member booting takes whole cores for minutes, slowing everything
/// else: an admin may still ask for one); none at all when the stack
/// cannot be personalized. Every size is listed.
pub fn targets_in_force(
    stack: &crate::stack::Stack,
    set: Option<BTreeMap<String, u32>>,
    emulated: bool,
) -> BTreeMap<String, u32> {
    let supported = stack.manifest.personalize.is_some();
    stack
        .manifest
        .sizes
        .iter()
        .enumerate()
        .map(|(i, size)| {
            let wanted = match (&set, supported) {
                (_, false) => 0,
                (Some(set), true) => set.get(&size.name).copied().unwrap_or(0),
                (None, true) => u32::from(i == 0 && !emulated),
            };
            (size.name.clone(), wanted)
        })
        .collect()
}

impl Engine {
    /// The stack's personalization, when it has one.
    pub(in crate::engine) fn personalization(&self) -> Option<&PersonalizeSpec> {
        self.stack.manifest.personalize.as_ref()
    }

    /// The targets in force (see [`targets_in_force`]) and the members,
    /// in one read.
    pub async fn pool_now(&self) -> Result<(BTreeMap<String, u32>, Vec<MemberRow>), EngineError> {
        let (set, members) = self
            .store
            .read(|c| Ok((pool::targets(c)?, pool::list(c)?)))
            .await?;
        let targets = targets_in_force(&self.stack, set, self.host_statuses.all_emulated());
        Ok((targets, members))
    }

    /// One pass over the pool: recycle what must go, then start a member
    /// where one is missing.
    pub(super) async fn tend_pool(self: &Arc<Self>) -> Result<(), EngineError> {
        let (targets, members) = self.pool_now().await?;
        let wanted = targets.values().any(|t| *t > 0);
        let image = if self.personalization().is_some() && (wanted || !members.is_empty()) {
            // An image that cannot be read (not built yet) is looked at
            // again after the failure back-off, not at every pass.
            if self.pool_work.unreadable.within(AFTER_FAILURE) {
                return Ok(());
            }
            match self.current_version().await {
                Ok(version) => Some(version.sha256),
                Err(e) => {
                    self.pool_work.unreadable.note();
                    return Err(e);
                }
            }
        } else {
            None
        };
        // A host being drained keeps no members.
        let draining: HashSet<i64> = self
            .store
            .read(hosts::list)
            .await?
            .into_iter()
            .filter(|h| h.mode == HostMode::Draining)
            .map(|h| h.id)
            .collect();
        let mut kept: BTreeMap<&str, u32> = BTreeMap::new();
        for m in &members {
            let target = targets.get(&m.size).copied().unwrap_or(0);
            let unwanted = image.as_deref() != Some(m.image.as_str())
                || draining.contains(&m.host_id)
                || kept.get(m.size.as_str()).copied().unwrap_or(0) >= target;
            if self.pool_work.is_busy(m.id) {
                // A build in flight that is no longer wanted stops at its
                // next readiness check.
                if m.state == PoolState::Booting && unwanted {
                    self.pool_work.cancel(m.id);
                } else if m.state != PoolState::Recycling {
                    *kept.entry(m.size.as_str()).or_default() += 1;
                }
                continue;
            }
            let recycle = match m.state {
                // Built, or half-built, by a process that is gone.
                PoolState::Booting | PoolState::Recycling => true,
                // A member whose guest stopped (its host rebooted) would
                // only fail its claim.
                PoolState::Ready => unwanted || !self.member_running(m).await,
                // Its deploy's task owns it.
                PoolState::Claiming => false,
            };
            if recycle {
                tracing::info!(member = m.id, state = %m.state, "recycling a pool member");
                self.spawn_recycle(m.clone());
            } else if m.state == PoolState::Ready {
                *kept.entry(m.size.as_str()).or_default() += 1;
            }
        }
        let Some(image) = image else {
            return Ok(());
        };
        let claiming = members.iter().any(|m| m.state == PoolState::Claiming);
        if self.pool_work.failed.within(AFTER_FAILURE)
            || claiming
            || self.pool_work.claimed.within(AFTER_CLAIM)
        {
            return Ok(());
        }
        let mut booting_on: HashSet<i64> = members
            .iter()
            .filter(|m| m.state == PoolState::Booting)
            .map(|m| m.host_id)
            .collect();
        for (size, target) in &targets {
            if kept.get(size.as_str()).copied().unwrap_or(0) < *target {
                self.start_member(size, &image, &mut booting_on).await?;
            }
        }
        Ok(())
    }

    /// Records a new member on a host with room and none booting, and
    /// builds it in the background.
    async fn start_member(
        self: &Arc<Self>,
        size_name: &str,
        image: &str,
        booting_on: &mut HashSet<i64>,
    ) -> Result<(), EngineError> {
        let Ok(size) = self.stack.size(size_name) else {
            return Ok(());
        };
        let member = {
            let _one_at_a_time = self.placement.lock().await;
            let rooms: Vec<_> = self
                .host_rooms()
                .await?
                .into_iter()
                .filter(|r| !booting_on.contains(&r.host_id))
                .collect();
            let wanted = Request {
                vcpus: size.vcpus,
                memory_mib: size.memory_mib,
            };
            let Ok(host_id) = choose_host(&rooms, wanted) else {
                return Ok(());
            };
            booting_on.insert(host_id);
            let network = self
                .store
                .read(hosts::list)
                .await?
                .into_iter()
                .find(|h| h.id == host_id)
                .map(|h| h.network)
                .ok_or_else(|| EngineError::HostDown(format!("#{host_id}")))?;
            let uuid = uuid::Uuid::new_v4().to_string();
            let stem = volumes::stem(&self.appliance_id, &uuid);
            let mac = super::guest::random_mac();
            let (size, image) = (size.clone(), image.to_owned());
            self.store
                .write(move |tx| {
                    let id = pool::insert(
                        tx,
                        &NewMember {
                            uuid: &uuid,
                            volume_stem: &stem,
                            mac: &mac,
                            size: &size.name,
                            vcpus: size.vcpus,
                            memory_mib: size.memory_mib,
                            disk_gib: size.disk_gib,
                            host_id,
                            network: &network,
                            image: &image,
                        },
                    )?;
                    pool::by_id(tx, id)
                })
                .await?
        };
        let Some(member) = member else {
            return Ok(());
        };
        if !self.pool_work.take(member.id) {
            return Ok(());
        }
        tracing::info!(
            member = member.id,
            size = member.size,
            host = member.host,
            "booting a pool member"
        );
        let engine = self.clone();
        tokio::spawn(async move {
            let id = member.id;
            match engine.boot_member(&member).await {
                Ok(false) => {
                    tracing::info!(member = id, "pool member no longer wanted; destroying it");
                    if let Err(e) = engine.destroy_member(&member).await {
                        tracing::warn!(member = id, error = %crate::error_chain(&e),
                            "pool member not destroyed; the next pass tries again");
                    }
                }
                Ok(true) => {
                    let ready = engine
                        .store
                        .write(move |tx| pool::set_state(tx, id, PoolState::Ready))
                        .await;
                    if let Err(e) = ready {
                        tracing::warn!(member = id, error = %crate::error_chain(&e), "pool member not recorded ready");
                    } else {
                        tracing::info!(member = id, "pool member ready");
                    }
                }
                Err(e) => {
                    tracing::warn!(member = id, error = %crate::error_chain(&e),
                        "pool member failed to boot; destroying it");
                    engine.pool_work.failed.note();
                    if let Err(e) = engine.destroy_member(&member).await {
                        tracing::warn!(member = id, error = %crate::error_chain(&e),
                            "pool member not destroyed; the next pass tries again");
                    }
                }
            }
            engine.pool_work.release(id);
        });
        Ok(())
    }

    /// Whether a member's guest runs; a host that cannot say is given the
    /// benefit of the doubt (a claim that fails goes cold anyway).
    async fn member_running(&self, m: &MemberRow) -> bool {
        let guest = Guest::of_member(m);
        match self.on_host(&guest, |h, u| h.domain_power(u)).await {
            Ok(Some(power)) => power == app::model::Power::Running,
            Ok(None) => false,
            Err(_) => true,
        }
    }

    /// Builds a member with the cold path's steps and an empty user-data,
    /// then waits until the stack's readiness command succeeds in it:
    /// true once ready, false when it was cancelled meanwhile.
    async fn boot_member(&self, m: &MemberRow) -> Result<bool, EngineError> {
        let spec = self
            .personalization()
            .ok_or(EngineError::NoPersonalization)?
            .clone();
        let guest = Guest::of_member(m);
        self.clone_disk(&guest).await?;
        self.write_seed(&guest, None).await?;
        self.define(&guest).await?;
        self.start(&guest).await?;
        let deadline = Instant::now() + READY_WITHIN;
        let cancelled = || self.pool_work.is_cancelled(m.id);
        match self
            .wait_until_ready(&guest, &spec.ready, deadline, cancelled)
            .await
        {
            Readiness::Ready => Ok(true),
            Readiness::Cancelled => Ok(false),
            Readiness::NeverReady(Ok(exit)) => Err(EngineError::GuestCommand {
                command: spec.ready.join(" "),
                code: exit.code,
                stderr: exit.stderr,
            }),
            Readiness::NeverReady(Err(e)) => Err(e),
        }
    }

    /// Destroys the members on a host about to be removed (those the host
    /// cannot destroy now go with its record, and their guests stay on
    /// it, no longer dpe's).
    pub async fn release_host(&self, host_id: i64) -> Result<(), EngineError> {
        let members = self.store.read(pool::list).await?;
        for m in members.iter().filter(|m| m.host_id == host_id) {
            if m.state == PoolState::Claiming || !self.pool_work.take(m.id) {
                continue;
            }
            if let Err(e) = self.destroy_member(m).await {
                tracing::warn!(member = m.id, error = %crate::error_chain(&e),
                    "pool member on a removed host not destroyed");
            }
            self.pool_work.release(m.id);
        }
        Ok(())
    }

    /// Destroys a member in the background, unless something else works
    /// on it.
    fn spawn_recycle(self: &Arc<Self>, m: MemberRow) {
        if !self.pool_work.take(m.id) {
            return;
        }
        let engine = self.clone();
        tokio::spawn(async move {
            let id = m.id;
            // Between the pass's look and this write a deploy may have
            // claimed it: then it is the deploy's, and stays.
            let marked = engine
                .store
                .write(move |tx| pool::mark_recycling(tx, id))
                .await;
            let result = match marked {
                Ok(true) => engine.destroy_member(&m).await,
                Ok(false) => Ok(()),
                Err(e) => Err(e.into()),
            };
            if let Err(e) = result {
                tracing::warn!(member = id, error = %crate::error_chain(&e),
                    "pool member not recycled; the next pass tries again");
            }
            engine.pool_work.release(id);
        });
    }

    /// Removes a member's domain and volumes, then its record: a crash
    /// in between leaves a record whose next pass removes them again.
    async fn destroy_member(&self, m: &MemberRow) -> Result<(), EngineError> {
        self.destroy_guest(&Guest::of_member(m)).await?;
        let id = m.id;
        self.store.write(move |tx| pool::delete(tx, id)).await?;
        Ok(())
    }

    /// Powers off, undefines and deletes the volumes of a guest; each is
    /// idempotent.
    pub(in crate::engine) async fn destroy_guest(&self, guest: &Guest) -> Result<(), EngineError> {
        self.power_off(guest).await?;
        self.undefine(guest).await?;
        self.delete_volumes(guest).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(personalize: bool) -> crate::stack::Stack {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../image/stacks/dokuwiki");
        let mut stack = crate::stack::Stack::load(&dir, &dir).unwrap();
        if !personalize {
            stack.manifest.personalize = None;
        }
        stack
    }

    #[test]
    fn by_default_one_member_of_the_first_size_is_kept() {
        let targets = targets_in_force(&stack(true), None, false);
        assert_eq!(
            targets,
            BTreeMap::from([
                ("small".to_owned(), 1),
                ("medium".to_owned(), 0),
                ("large".to_owned(), 0)
            ])
        );
    }

    #[test]
    fn where_every_host_emulates_none_is_kept_by_default_but_what_is_set_is() {
        let none = targets_in_force(&stack(true), None, true);
        assert!(none.values().all(|t| *t == 0), "{none:?}");
        let set = BTreeMap::from([("small".to_owned(), 1)]);
        let kept = targets_in_force(&stack(true), Some(set), true);
        assert_eq!(kept.get("small"), Some(&1));
    }

    #[test]
    fn set_targets_list_every_size_and_a_stack_without_personalization_keeps_none() {
        let set = BTreeMap::from([("large".to_owned(), 2)]);
        let targets = targets_in_force(&stack(true), Some(set.clone()), false);
        assert_eq!(targets.get("small"), Some(&0));
        assert_eq!(targets.get("large"), Some(&2));
        let none = targets_in_force(&stack(false), Some(set), false);
        assert!(none.values().all(|t| *t == 0), "{none:?}");
    }
}
