//! What running domains use, from one bulk call per host
//! (virConnectGetAllDomainStats). The virt crate's wrapper gives the
//! records as raw pointers and frees only their array, so this calls
//! libvirt itself, copies the fields out, and frees the list whole.

use std::ffi::CStr;
use std::ptr;

use virt::sys;

use super::LibvirtHost;
use crate::engine::hypervisor::{DomainUsage, HostError};

/// The groups of figures asked for.
const STATS: u32 = sys::VIR_DOMAIN_STATS_CPU_TOTAL
    | sys::VIR_DOMAIN_STATS_BALLOON
    | sys::VIR_DOMAIN_STATS_VCPU
    | sys::VIR_DOMAIN_STATS_INTERFACE
    | sys::VIR_DOMAIN_STATS_BLOCK;

/// A record list libvirt allocated; dropping it frees the records, their
/// fields and their domain references.
struct Records(*mut sys::virDomainStatsRecordPtr);

impl Drop for Records {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the list came from virConnectGetAllDomainStats and
            // is freed once, here.
            unsafe { sys::virDomainStatsRecordListFree(self.0) };
        }
    }
}

impl LibvirtHost {
    pub(super) fn usage(&self) -> Result<Vec<DomainUsage>, HostError> {
        let mut list: *mut sys::virDomainStatsRecordPtr = ptr::null_mut();
        // SAFETY: a live connection; libvirt fills `list` (NULL-ended).
        let count = unsafe {
            sys::virConnectGetAllDomainStats(
                self.conn.as_ptr(),
                STATS,
                &mut list,
                sys::VIR_CONNECT_GET_ALL_DOMAINS_STATS_RUNNING,
            )
        };
        let records = Records(list);
        if count < 0 {
            return Err(self.err("domain stats")(virt::error::Error::last_error()));
        }
        let mut usage = Vec::with_capacity(count as usize);
        for i in 0..count as usize {
            // SAFETY: `count` records, each valid until `records` drops.
            let record = unsafe { &**records.0.add(i) };
            let mut uuid = [0 as std::os::raw::c_char; sys::VIR_UUID_STRING_BUFLEN as usize];
            // SAFETY: the record's domain, and a buffer of the size libvirt writes.
            if unsafe { sys::virDomainGetUUIDString(record.dom, uuid.as_mut_ptr()) } < 0 {
                continue;
            }
            // SAFETY: libvirt wrote a NUL-ended string.
            let uuid = unsafe { CStr::from_ptr(uuid.as_ptr()) }
                .to_string_lossy()
                .into_owned();
            let params: &[sys::virTypedParameter] = if record.params.is_null() {
                &[]
            } else {
                // SAFETY: `nparams` fields at `params`, valid as above.
                unsafe { std::slice::from_raw_parts(record.params, record.nparams.max(0) as usize) }
            };
            let fields = params.iter().filter_map(|p| {
                // SAFETY: a field name is a NUL-ended array.
                let name = unsafe { CStr::from_ptr(p.field.as_ptr()) }.to_str().ok()?;
                Some((name, number(p)?))
            });
            usage.push(from_fields(uuid, fields));
        }
        Ok(usage)
    }
}

/// A numeric field's value; `None` for text and flags.
fn number(p: &sys::virTypedParameter) -> Option<u64> {
    // SAFETY: the union is read as the type libvirt tagged it with.
    unsafe {
        match p.type_ as u32 {
            sys::VIR_TYPED_PARAM_INT => u64::try_from(p.value.i).ok(),
            sys::VIR_TYPED_PARAM_UINT => Some(u64::from(p.value.ui)),
            sys::VIR_TYPED_PARAM_LLONG => u64::try_from(p.value.l).ok(),
            sys::VIR_TYPED_PARAM_ULLONG => Some(p.value.ul),
            sys::VIR_TYPED_PARAM_DOUBLE => Some(p.value.d as u64),
            _ => None,
        }
    }
}

/// A domain's use from its named figures (`cpu.time`, `balloon.rss`,
/// `block.0.rd.bytes`, …; memory in KiB).
fn from_fields<'a>(uuid: String, fields: impl Iterator<Item = (&'a str, u64)>) -> DomainUsage {
    let mut usage = DomainUsage {
        uuid,
        ..DomainUsage::default()
    };
    let (mut available, mut unused) = (None, None);
    for (name, value) in fields {
        let indexed = |group: &str, what: &str| {
            name.strip_prefix(group)
                .and_then(|rest| rest.split_once('.'))
                .is_some_and(|(index, rest)| index.parse::<u32>().is_ok() && rest == what)
        };
        match name {
            "cpu.time" => usage.cpu_ns = value,
            "vcpu.current" => usage.vcpus = u32::try_from(value).unwrap_or(u32::MAX),
            "balloon.current" => usage.memory_bytes = value * 1024,
            "balloon.rss" => usage.resident_bytes = value * 1024,
            "balloon.available" => available = Some(value),
            "balloon.unused" => unused = Some(value),
            _ if indexed("block.", "rd.bytes") => usage.disk_read_bytes += value,
            _ if indexed("block.", "wr.bytes") => usage.disk_write_bytes += value,
            _ if indexed("net.", "rx.bytes") => usage.net_rx_bytes += value,
            _ if indexed("net.", "tx.bytes") => usage.net_tx_bytes += value,
            _ => {}
        }
    }
    usage.memory_used_bytes = match (available, unused) {
        (Some(available), Some(unused)) => Some(available.saturating_sub(unused) * 1024),
        (None, _) | (_, None) => None,
    };
    usage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domains_figures_sum_its_disks_and_nics_and_its_memory_is_in_bytes() {
        let fields = [
            ("state.state", 1),
            ("cpu.time", 5_000_000_000),
            ("vcpu.current", 2),
            ("vcpu.0.time", 1),
            ("balloon.current", 1_048_576),
            ("balloon.rss", 600_000),
            ("balloon.available", 1_000_000),
            ("balloon.unused", 400_000),
            ("block.count", 2),
            ("block.0.rd.bytes", 100),
            ("block.0.wr.bytes", 200),
            ("block.1.rd.bytes", 5),
            ("block.1.allocation", 999),
            ("net.count", 1),
            ("net.0.rx.bytes", 7),
            ("net.0.tx.bytes", 9),
            ("net.0.rx.pkts", 3),
        ];
        let usage = from_fields("u".into(), fields.into_iter());
        assert_eq!(
            usage,
            DomainUsage {
                uuid: "u".into(),
                cpu_ns: 5_000_000_000,
                vcpus: 2,
                memory_bytes: 1 << 30,
                memory_used_bytes: Some(600_000 * 1024),
                resident_bytes: 600_000 * 1024,
                disk_read_bytes: 105,
                disk_write_bytes: 200,
                net_rx_bytes: 7,
                net_tx_bytes: 9,
            }
        );
        let bare = from_fields("v".into(), [("balloon.unused", 1)].into_iter());
        assert_eq!(bare.memory_used_bytes, None, "no balloon driver's report");
    }
}
