//! What the host machine itself uses: its CPUs' times
//! (virNodeGetCPUStats), its memory (virNodeGetMemoryStats) and dpe's
//! storage pool. The virt crate wraps neither node call, so this calls
//! libvirt itself: once for the number of fields, once for them.

use std::ffi::CStr;

use virt::error::ErrorNumber;
use virt::storage_pool::StoragePool;
use virt::sys;

use super::{LibvirtHost, is};
use crate::engine::hypervisor::{HostError, HostUsage};

/// A field of a node stats answer: its name and value (CPU times in ns,
/// memory in KiB).
type Field = (String, u64);

impl LibvirtHost {
    pub(super) fn host_figures(&self, pool: &str) -> Result<HostUsage, HostError> {
        let (cpu_busy_ns, cpu_total_ns) = self.node_cpu()?;
        let (memory_bytes, memory_used_bytes) = memory_of(&self.node_memory()?);
        let (storage_used_bytes, storage_bytes) = self.pool_usage(pool)?;
        Ok(HostUsage {
            cpu_busy_ns,
            cpu_total_ns,
            memory_bytes,
            memory_used_bytes,
            storage_used_bytes,
            storage_bytes,
        })
    }

    /// The time all CPUs were busy, and in all (ns).
    fn node_cpu(&self) -> Result<(u64, u64), HostError> {
        let fields = self.node_fields("node cpu stats", |params, n| {
            // SAFETY: a live connection; libvirt fills at most `*n`
            // fields at `params`, or sets `*n` when `params` is NULL.
            unsafe {
                sys::virNodeGetCPUStats(
                    self.conn.as_ptr(),
                    sys::VIR_NODE_CPU_STATS_ALL_CPUS,
                    params.cast(),
                    n,
                    0,
                )
            }
        })?;
        Ok(cpu_of(&fields))
    }

    /// The node's memory figures (KiB: `total`, `free`, `buffers`,
    /// `cached`).
    fn node_memory(&self) -> Result<Vec<Field>, HostError> {
        self.node_fields("node memory stats", |params, n| {
            // SAFETY: as for the CPU's.
            unsafe {
                sys::virNodeGetMemoryStats(
                    self.conn.as_ptr(),
                    sys::VIR_NODE_MEMORY_STATS_ALL_CELLS,
                    params.cast(),
                    n,
                    0,
                )
            }
        })
    }

    /// The test driver's figures, which has CPU times but no memory
    /// stats: its memory in use is what its running domains have (its
    /// node's free memory is a fixed few MiB, which says nothing).
    pub(super) fn test_driver_figures(&self, pool: &str) -> Result<HostUsage, HostError> {
        let (cpu_busy_ns, cpu_total_ns) = self.node_cpu()?;
        let info = self
            .conn
            .get_node_info()
            .map_err(self.err("get_node_info"))?;
        let running = self
            .conn
            .list_all_domains(sys::VIR_CONNECT_LIST_DOMAINS_ACTIVE)
            .map_err(self.err("list domains"))?;
        let mut used_kib = 0;
        for dom in running {
            used_kib += dom.get_info().map_err(self.err("domain info"))?.memory;
        }
        let (storage_used_bytes, storage_bytes) = self.pool_usage(pool)?;
        Ok(HostUsage {
            cpu_busy_ns,
            cpu_total_ns,
            memory_bytes: info.memory * 1024,
            // The driver's sizes are made up: never more than the node.
            memory_used_bytes: used_kib.min(info.memory) * 1024,
            storage_used_bytes,
            storage_bytes,
        })
    }

    /// What the pool holds, and its size (bytes); none of either before
    /// the host's first deploy makes it.
    fn pool_usage(&self, pool: &str) -> Result<(u64, u64), HostError> {
        let pool = match StoragePool::lookup_by_name(&self.conn, pool) {
            Ok(pool) => pool,
            Err(e) if is(&e, ErrorNumber::NoStoragePool) => return Ok((0, 0)),
            Err(e) => return Err(self.err("storage pool lookup")(e)),
        };
        let info = pool.get_info().map_err(self.err("storage pool info"))?;
        Ok((info.allocation, info.capacity))
    }

    /// Calls a node stats function: with no room for the count, then with
    /// room for that many (both answers have the same layout: a name of 80
    /// bytes and a value).
    fn node_fields(
        &self,
        call: &'static str,
        get: impl Fn(*mut sys::virNodeCPUStats, &mut i32) -> i32,
    ) -> Result<Vec<Field>, HostError> {
        let mut n = 0;
        if get(std::ptr::null_mut(), &mut n) < 0 {
            return Err(self.err(call)(virt::error::Error::last_error()));
        }
        let empty = sys::virNodeCPUStats {
            field: [0; 80],
            value: 0,
        };
        let mut params = vec![empty; n.max(0) as usize];
        if get(params.as_mut_ptr(), &mut n) < 0 {
            return Err(self.err(call)(virt::error::Error::last_error()));
        }
        params.truncate(n.max(0) as usize);
        Ok(params
            .iter()
            .map(|p| {
                // SAFETY: libvirt writes a NUL-ended name (zeroed above).
                let name = unsafe { CStr::from_ptr(p.field.as_ptr()) };
                (name.to_string_lossy().into_owned(), p.value)
            })
            .collect())
    }
}

/// The busy and total CPU time: all of it but `idle` and `iowait` is busy
/// (`kernel`, `user`, and the test driver's `system`).
fn cpu_of(fields: &[Field]) -> (u64, u64) {
    let total = fields.iter().map(|(_, v)| *v).sum::<u64>();
    let waiting = fields
        .iter()
        .filter(|(name, _)| name == "idle" || name == "iowait")
        .map(|(_, v)| *v)
        .sum::<u64>();
    (total.saturating_sub(waiting), total)
}

/// The memory in all and in use (bytes): what is neither free nor
/// buffers nor page cache, which the kernel gives back when asked.
fn memory_of(fields: &[Field]) -> (u64, u64) {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v)
    };
    let total = field("total");
    let spare = field("free") + field("buffers") + field("cached");
    (total * 1024, total.saturating_sub(spare) * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, u64)]) -> Vec<Field> {
        pairs.iter().map(|(n, v)| ((*n).to_owned(), *v)).collect()
    }

    #[test]
    fn busy_cpu_time_is_all_but_idle_and_io_wait_and_memory_in_use_leaves_out_the_cache() {
        let cpu = fields(&[("kernel", 30), ("user", 70), ("idle", 850), ("iowait", 50)]);
        assert_eq!(cpu_of(&cpu), (100, 1000));
        let memory = fields(&[
            ("total", 8_000_000),
            ("free", 1_000_000),
            ("buffers", 500_000),
            ("cached", 2_500_000),
        ]);
        assert_eq!(memory_of(&memory), (8_000_000 * 1024, 4_000_000 * 1024));
    }
}
