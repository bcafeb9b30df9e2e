//! `virNetworkGetDHCPLeases`, which the `virt` crate does not wrap: how the
//! appliance knows a guest's address without a guest agent.

use std::ffi::CStr;

use virt::error::Error;
use virt::network::Network;

use crate::engine::hypervisor::Lease;

fn text(ptr: *const std::os::raw::c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: libvirt hands out NUL-terminated strings that live until the
    // lease is freed, which happens after we copied them.
    unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

pub fn leases(net: &Network) -> Result<Vec<Lease>, Error> {
    let mut array: *mut virt::sys::virNetworkDHCPLeasePtr = std::ptr::null_mut();
    // SAFETY: a valid network pointer, a null MAC filter and an out-pointer
    // that libvirt fills with an array it allocates.
    let count = unsafe {
        virt::sys::virNetworkGetDHCPLeases(net.as_ptr(), std::ptr::null(), &mut array, 0)
    };
    if count < 0 {
        return Err(Error::last_error());
    }
    let mut out = Vec::with_capacity(count as usize);
    for i in 0..count as usize {
        // SAFETY: libvirt returned `count` valid lease pointers; each is freed
        // once, and the array after them.
        unsafe {
            let lease = *array.add(i);
            out.push(Lease {
                mac: text((*lease).mac).to_lowercase(),
                ip: text((*lease).ipaddr),
            });
            virt::sys::virNetworkDHCPLeaseFree(lease);
        }
    }
    if !array.is_null() {
        // SAFETY: the array itself was allocated by libvirt with malloc.
        unsafe { libc::free(array.cast()) };
    }
    Ok(out)
}
