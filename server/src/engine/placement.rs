//! Placement: which host an instance goes to. The policy is a pure
//! function over what each host has, how it runs guests and what it has
//! committed; the place step
//! gathers that (one placement at a time, so that concurrent deploys
//! cannot overcommit) and records the choice. Its undo forgets it.

use app::model::{Acceleration, HostMode};

use super::EngineError;
use super::guest::Guest;
use super::hypervisor::{Capacity, HostError};
use super::runtime::Engine;
use crate::blocking::run_blocking;
use crate::store::hosts;
use crate::store::instances;

/// Guests get up to this many vCPUs per host CPU.
const VCPU_OVERCOMMIT: u64 = 4;

/// A connected host: its size, how it runs guests and what its instances
/// already take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostRoom {
    pub host_id: i64,
    pub capacity: Capacity,
    pub acceleration: Acceleration,
    pub committed_vcpus: u64,
    pub committed_memory_mib: u64,
}

/// What an instance needs of a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    pub vcpus: u32,
    pub memory_mib: u64,
}

/// Why no host was chosen: none that is connected has room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoRoom(pub Request);

impl From<NoRoom> for EngineError {
    fn from(NoRoom(wanted): NoRoom) -> EngineError {
        EngineError::NoCapacity {
            vcpus: wanted.vcpus,
            memory_mib: wanted.memory_mib,
        }
    }
}

/// How much a host is wanted for how it runs guests, higher first. An
/// emulating (TCG) host boots a guest in minutes and runs it at a fraction
/// of the speed, so it is the last resort, whatever memory it has free.
/// The test driver runs nothing and ranks with KVM (it never meets a real
/// host outside a test).
fn preference(acceleration: Acceleration) -> u8 {
    match acceleration {
        Acceleration::Kvm | Acceleration::Test => 1,
        Acceleration::Tcg => 0,
    }
}

/// Among `hosts` (oldest first) where the instance fits (memory not
/// overcommitted, vCPUs at most 4 per CPU), one with hardware acceleration
/// if any has room, else one that emulates; within that class the one
/// with the most free memory; ties go to the older host.
pub fn choose_host(hosts: &[HostRoom], wanted: Request) -> Result<i64, NoRoom> {
    let mut best: Option<(i64, (u8, u64))> = None;
    for h in hosts {
        let free_mem = h.capacity.memory_mib.saturating_sub(h.committed_memory_mib);
        let cpu_room = u64::from(h.capacity.cpus) * VCPU_OVERCOMMIT;
        let rank = (preference(h.acceleration), free_mem);
        if free_mem >= wanted.memory_mib
            && h.committed_vcpus + u64::from(wanted.vcpus) <= cpu_room
            && best.is_none_or(|(_, r)| rank > r)
        {
            best = Some((h.host_id, rank));
        }
    }
    best.map(|(host_id, _)| host_id).ok_or(NoRoom(wanted))
}

impl Engine {
    /// The place step: chooses a host unless one was chosen already.
    pub(super) async fn place(&self, instance_id: i64, guest: &Guest) -> Result<(), EngineError> {
        if guest.host_id.is_some() {
            return Ok(());
        }
        let _one_at_a_time = self.placement.lock().await;
        let rooms = self.host_rooms().await?;
        let wanted = Request {
            vcpus: guest.size.vcpus,
            memory_mib: guest.size.memory_mib,
        };
        let host_id = choose_host(&rooms, wanted)?;
        self.store
            .write(move |tx| instances::set_host(tx, instance_id, Some(host_id)))
            .await?;
        Ok(())
    }

    /// Undoes the place step.
    pub(super) async fn unplace(&self, instance_id: i64) -> Result<(), EngineError> {
        self.store
            .write(move |tx| instances::set_host(tx, instance_id, None))
            .await?;
        Ok(())
    }

    /// The room of every host that answers now and takes new guests (is
    /// not being drained), oldest host first.
    pub(super) async fn host_rooms(&self) -> Result<Vec<HostRoom>, EngineError> {
        let hosts = self.store.read(hosts::list).await?;
        let committed = self.store.read(instances::committed_by_host).await?;
        let mut rooms = Vec::new();
        for h in hosts.iter().filter(|h| h.mode == HostMode::Active) {
            let Ok(conn) = self.connect(h.id).await else {
                continue;
            };
            // The acceleration is cached by the connection: one libvirt
            // call per host per placement, as before.
            let Ok((capacity, acceleration)) =
                run_blocking(move || Ok::<_, HostError>((conn.capacity()?, conn.acceleration()?)))
                    .await
            else {
                continue;
            };
            let (committed_vcpus, committed_memory_mib) =
                committed.get(&h.id).copied().unwrap_or((0, 0));
            rooms.push(HostRoom {
                host_id: h.id,
                capacity,
                acceleration,
                committed_vcpus,
                committed_memory_mib,
            });
        }
        Ok(rooms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(host_id: i64, cpus: u32, memory_mib: u64, vcpus: u64, used_mib: u64) -> HostRoom {
        HostRoom {
            host_id,
            capacity: Capacity { cpus, memory_mib },
            acceleration: Acceleration::Kvm,
            committed_vcpus: vcpus,
            committed_memory_mib: used_mib,
        }
    }

    fn emulating(room: HostRoom) -> HostRoom {
        HostRoom {
            acceleration: Acceleration::Tcg,
            ..room
        }
    }

    const SMALL: Request = Request {
        vcpus: 1,
        memory_mib: 512,
    };

    #[test]
    fn the_host_with_the_most_free_memory_is_chosen() {
        let hosts = [host(1, 8, 4096, 0, 3072), host(2, 8, 4096, 0, 1024)];
        assert_eq!(choose_host(&hosts, SMALL), Ok(2));
    }

    #[test]
    fn a_tie_goes_to_the_older_host() {
        let hosts = [host(1, 8, 4096, 0, 0), host(2, 8, 4096, 0, 0)];
        assert_eq!(choose_host(&hosts, SMALL), Ok(1));
    }

    #[test]
    fn memory_is_never_overcommitted() {
        let hosts = [host(1, 8, 4096, 0, 3585)];
        assert_eq!(choose_host(&hosts, SMALL), Err(NoRoom(SMALL)));
        let exactly = [host(1, 8, 4096, 0, 3584)];
        assert_eq!(choose_host(&exactly, SMALL), Ok(1));
    }

    #[test]
    fn vcpus_are_overcommitted_at_most_four_times_per_cpu() {
        let full = [host(1, 2, 65536, 8, 0)];
        assert_eq!(choose_host(&full, SMALL), Err(NoRoom(SMALL)));
        let one_left = [host(1, 2, 65536, 7, 0)];
        assert_eq!(choose_host(&one_left, SMALL), Ok(1));
    }

    #[test]
    fn a_host_without_room_is_passed_over_for_one_with_room() {
        let hosts = [host(1, 1, 65536, 4, 0), host(2, 8, 1024, 0, 0)];
        assert_eq!(choose_host(&hosts, SMALL), Ok(2));
    }

    #[test]
    fn a_kvm_host_with_room_wins_over_a_tcg_host_with_more_free_memory() {
        let hosts = [
            emulating(host(1, 8, 65536, 0, 0)),
            host(2, 8, 4096, 0, 3072),
        ];
        assert_eq!(choose_host(&hosts, SMALL), Ok(2));
    }

    #[test]
    fn a_tcg_host_takes_the_instance_only_when_no_kvm_host_has_room() {
        let full_kvm = host(2, 8, 4096, 0, 3585);
        let hosts = [emulating(host(1, 8, 65536, 0, 0)), full_kvm];
        assert_eq!(choose_host(&hosts, SMALL), Ok(1));
        let out_of_vcpus = host(2, 1, 65536, 4, 0);
        let hosts = [emulating(host(1, 8, 1024, 0, 0)), out_of_vcpus];
        assert_eq!(choose_host(&hosts, SMALL), Ok(1));
    }

    #[test]
    fn free_memory_breaks_ties_within_each_class() {
        let hosts = [
            emulating(host(1, 8, 65536, 0, 0)),
            host(2, 8, 4096, 0, 1024),
            host(3, 8, 8192, 0, 1024),
            emulating(host(4, 8, 131072, 0, 0)),
        ];
        assert_eq!(choose_host(&hosts, SMALL), Ok(3));
        let only_tcg = [
            emulating(host(1, 8, 65536, 0, 0)),
            emulating(host(4, 8, 131072, 0, 0)),
        ];
        assert_eq!(choose_host(&only_tcg, SMALL), Ok(4));
    }

    #[test]
    fn no_connected_host_means_no_room() {
        assert_eq!(choose_host(&[], SMALL), Err(NoRoom(SMALL)));
        let message = EngineError::from(NoRoom(SMALL)).to_string();
        assert_eq!(message, "no host has room for 1 vCPUs and 512 MiB");
    }
}
