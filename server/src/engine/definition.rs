//! An instance's domain definition: what its record, its host and its
//! golden volumes make of the serde structs in `xml/domain.rs`. It sits
//! above `xml/` and `golden.rs` and is used by the define step; putting it
//! into `xml/domain.rs` would make `xml` depend on `golden`, which depends
//! on `hypervisor`, which reads domains through `xml/domain`.

use app::model::{Acceleration, NetworkZone};

use super::EngineError;
use super::golden::GoldenVolumes;
use super::guest::{Guest, Nic};
use super::seed::{self, SeedContent};
use super::xml::domain as dx;
use super::xml::to_xml;

/// The user-data of a seed that carries none.
pub const EMPTY_USER_DATA: &str = "#cloud-config\n{}\n";

/// The guest's NoCloud seed with `user_data`, built in memory: the seed
/// step writes it, and the health check writes it again without the
/// user-data. Blocking work, for `run_blocking`.
pub fn seed_image(guest: &Guest, user_data: &str) -> Result<Vec<u8>, EngineError> {
    Ok(seed::build(&SeedContent {
        instance_id: &guest.uuid,
        hostname: &guest.name,
        mac: &guest.nic.mac,
        addressing: guest.nic.addressing(),
        user_data,
    })?)
}

/// Everything a domain definition is made from.
pub struct DomainInputs<'a> {
    pub appliance: &'a str,
    pub guest: &'a Guest,
    pub accel: Acceleration,
    pub golden: &'a GoldenVolumes,
    /// Paths of the overlay, the seed and the console log on the host.
    pub disk: &'a str,
    pub seed: &'a str,
    pub console: &'a str,
    pub cmdline: Option<&'a str>,
}

/// The translation cache under TCG: QEMU's default (1 GiB) stays resident
/// once a boot has filled it; an idle guest runs far less code than that,
/// and a full cache is only emptied and filled again.
const TCG_TRANSLATION_CACHE_MIB: u64 = 64;

/// The domain definition of an instance.
pub fn domain_xml(inputs: &DomainInputs<'_>) -> Result<String, EngineError> {
    let DomainInputs {
        appliance,
        guest,
        accel,
        golden,
        cmdline,
        ..
    } = *inputs;
    let fixed_ip = guest.nic.fixed.as_ref().map(|f| f.address.to_string());
    let kind = match accel {
        Acceleration::Kvm => "kvm",
        Acceleration::Tcg => "qemu",
        Acceleration::Test => "test",
    };
    // Named by UUID alone: a running domain cannot be renamed, and a
    // warm-pool member becomes an instance of any name while it runs.
    let name = format!("dpe-{}", guest.uuid);
    let record = guest.record_json();
    let domain = dx::Domain {
        kind,
        name: &name,
        uuid: &guest.uuid,
        title: &guest.name,
        metadata: dx::Metadata {
            instance: dx::DpeInstance {
                xmlns: dx::DPE_NS,
                appliance,
                id: &guest.uuid,
                owner: guest.owner_name(),
                guest: record.as_deref(),
            },
        },
        memory: dx::Memory {
            unit: "MiB",
            value: guest.size.memory_mib,
        },
        vcpu: guest.size.vcpus,
        os: dx::Os {
            kind: dx::OsType {
                arch: "x86_64",
                machine: "pc",
                value: "hvm",
            },
            kernel: golden.kernel.as_deref(),
            initrd: golden.initrd.as_deref(),
            cmdline: golden.kernel.as_ref().and(cmdline),
        },
        features: dx::Features {
            acpi: dx::Empty {},
            apic: dx::Empty {},
            tcg: (accel == Acceleration::Tcg).then_some(dx::Tcg {
                tb_cache: dx::Memory {
                    unit: "MiB",
                    value: TCG_TRANSLATION_CACHE_MIB,
                },
            }),
        },
        cpu: dx::Cpu {
            mode: (accel == Acceleration::Kvm).then_some("host-passthrough"),
        },
        on_poweroff: "destroy",
        on_reboot: "restart",
        on_crash: "destroy",
        devices: devices(inputs, fixed_ip.as_deref()),
    };
    to_xml(&domain).map_err(EngineError::Xml)
}

/// The disks, the NIC, the serial console, the display, the entropy
/// source and the balloon. No `qemu-vdagent` channel for the display's
/// clipboard: libvirt 9.0 takes it, but QEMU 7.2 then refuses to migrate
/// the guest ("The vdagent chardev doesn't yet support migration"), and
/// guests move.
fn devices<'a>(inputs: &DomainInputs<'a>, fixed_ip: Option<&'a str>) -> dx::Devices<'a> {
    dx::Devices {
        disk: vec![
            disk(inputs.disk, "qcow2", "vda", false),
            disk(inputs.seed, "raw", "vdb", true),
        ],
        interface: vec![interface(&inputs.guest.nic, fixed_ip)],
        serial: dx::Serial {
            kind: "pty",
            log: dx::SerialLog {
                file: inputs.console,
                append: "on",
            },
            target: dx::PortTarget { port: 0 },
        },
        console: dx::Console {
            kind: "pty",
            target: dx::ConsoleTarget {
                kind: "serial",
                port: 0,
            },
        },
        channel: dx::Channel {
            kind: "unix",
            target: dx::ChannelTarget {
                kind: "virtio",
                name: "org.qemu.guest_agent.0",
            },
        },
        graphics: dx::Graphics {
            kind: "vnc",
            listen: dx::Listen { kind: "none" },
        },
        rng: dx::Rng {
            model: "virtio",
            backend: dx::RngBackend {
                model: "random",
                device: "/dev/urandom",
            },
        },
        memballoon: dx::MemBalloon {
            model: "virtio",
            free_page_reporting: "on",
        },
    }
}

/// A virtio disk backed by the file at `path`.
fn disk<'a>(
    path: &'a str,
    format: &'static str,
    dev: &'static str,
    readonly: bool,
) -> dx::Disk<'a> {
    dx::Disk {
        kind: "file",
        device: "disk",
        driver: dx::DiskDriver {
            name: "qemu",
            format,
        },
        source: dx::FileSource { file: path },
        target: dx::DiskTarget { dev, bus: "virtio" },
        readonly: readonly.then_some(dx::Empty {}),
    }
}

/// The NIC: on the inside zone's libvirt network or the outside bridge,
/// behind libvirt's `clean-traffic` filter (with the fixed address as its
/// `IP` when there is one).
fn interface<'a>(nic: &'a Nic, fixed_ip: Option<&'a str>) -> dx::Interface<'a> {
    dx::Interface {
        kind: match nic.zone {
            NetworkZone::Inside => "network",
            NetworkZone::Outside => "bridge",
        },
        mac: dx::Mac { address: &nic.mac },
        source: match nic.zone {
            NetworkZone::Inside => dx::InterfaceSource {
                network: Some(&nic.network),
                bridge: None,
            },
            NetworkZone::Outside => dx::InterfaceSource {
                network: None,
                bridge: Some(&nic.network),
            },
        },
        model: dx::Model { kind: "virtio" },
        filterref: dx::FilterRef {
            filter: "clean-traffic",
            parameter: fixed_ip
                .map(|ip| dx::FilterParameter {
                    name: "IP",
                    value: ip,
                })
                .into_iter()
                .collect(),
        },
    }
}
