//! Domain XML, with a dpe metadata element so that dpe can tell its domains
//! from foreign ones (which it never touches).

use serde::{Deserialize, Serialize};

/// The namespace of dpe's metadata element.
pub const DPE_NS: &str = "https://dpe.invalid/xmlns/instance/1";
pub const DPE_PREFIX: &str = "dpe";

#[derive(Debug, Serialize)]
#[serde(rename = "domain")]
pub struct Domain<'a> {
    /// `kvm` or `qemu` (TCG).
    #[serde(rename = "@type")]
    pub kind: &'static str,
    pub name: &'a str,
    pub uuid: &'a str,
    pub title: &'a str,
    pub metadata: Metadata<'a>,
    pub memory: Memory,
    pub vcpu: u32,
    pub os: Os<'a>,
    pub features: Features,
    pub cpu: Cpu,
    pub on_poweroff: &'static str,
    pub on_reboot: &'static str,
    pub on_crash: &'static str,
    pub devices: Devices<'a>,
}

#[derive(Debug, Serialize)]
pub struct Metadata<'a> {
    #[serde(rename = "dpe:instance")]
    pub instance: DpeInstance<'a>,
}

/// What dpe writes into every domain it defines.
#[derive(Debug, Serialize)]
pub struct DpeInstance<'a> {
    #[serde(rename = "@xmlns:dpe")]
    pub xmlns: &'static str,
    /// The appliance that owns the domain: two appliances may share a host.
    #[serde(rename = "dpe:appliance")]
    pub appliance: &'a str,
    #[serde(rename = "dpe:id")]
    pub id: &'a str,
    #[serde(rename = "dpe:owner")]
    pub owner: &'a str,
    /// JSON of its [`GuestRecord`]; none for a warm pool member.
    #[serde(rename = "dpe:guest", skip_serializing_if = "Option::is_none")]
    pub guest: Option<&'a str>,
}

/// What dpe needs to take a domain back as an instance when the store has
/// no record of it (a store restored from a copy older than the domain):
/// written into its metadata as JSON, beside its owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestRecord {
    /// The instance's name (the domain's title).
    pub name: String,
    /// What its volume names start with.
    pub volume_stem: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    /// The libvirt network (inside zone) or bridge (outside zone).
    pub network: String,
    pub mac: String,
    pub zone: app::model::NetworkZone,
    /// An outside guest's fixed address, and the JSON of its whole static
    /// configuration as the store keeps it.
    pub static_address: Option<String>,
    pub static_network: Option<String>,
}

/// The metadata element alone, for `virDomainSetMetadata`: a claimed
/// warm-pool member is relabelled as its instance while it runs.
/// Unprefixed: libvirt puts the element into `DPE_NS` itself, and refuses
/// one that declares a namespace of its own.
pub fn metadata_element(instance: &DpeInstance<'_>) -> Result<String, quick_xml::SeError> {
    #[derive(Serialize)]
    struct Element<'a> {
        appliance: &'a str,
        id: &'a str,
        owner: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        guest: Option<&'a str>,
    }
    quick_xml::se::to_string_with_root(
        "instance",
        &Element {
            appliance: instance.appliance,
            id: instance.id,
            owner: instance.owner,
            guest: instance.guest,
        },
    )
}

/// The metadata element as libvirt hands it back.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct DpeInstanceRead {
    pub appliance: String,
    pub id: String,
    pub owner: String,
    /// None for a domain defined before dpe wrote it, for a warm pool
    /// member, or when it does not parse.
    pub guest: Option<GuestRecord>,
}

impl DpeInstanceRead {
    /// Parses libvirt's answer to `virDomainGetMetadata(ELEMENT, DPE_NS)`;
    /// libvirt may pick its own prefix, so only local names are compared.
    pub fn parse(xml: &str) -> Option<DpeInstanceRead> {
        use quick_xml::events::Event;
        let mut reader = quick_xml::Reader::from_str(xml);
        let (mut appliance, mut id, mut owner, mut guest) = (None, None, None, None);
        let mut current: Option<String> = None;
        let mut text = String::new();
        loop {
            match reader.read_event().ok()? {
                Event::Start(e) => {
                    current = Some(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
                    text.clear();
                }
                Event::Text(t) => text.push_str(&t.decode().ok()?),
                // `&amp;` and friends arrive as references of their own.
                Event::GeneralRef(r) => {
                    let name = r.decode().ok()?;
                    text.push_str(quick_xml::escape::resolve_xml_entity(&name)?);
                }
                Event::End(_) => {
                    match current.as_deref() {
                        Some("appliance") => appliance = Some(std::mem::take(&mut text)),
                        Some("id") => id = Some(std::mem::take(&mut text)),
                        Some("owner") => owner = Some(std::mem::take(&mut text)),
                        Some("guest") => guest = serde_json::from_str(&text).ok(),
                        Some(_) | None => {}
                    }
                    current = None;
                }
                Event::Eof => break,
                // An empty text comes back as `<owner/>` (a warm pool
                // member's, a drill's).
                Event::Empty(e) => match e.local_name().as_ref() {
                    b"appliance" => appliance = Some(String::new()),
                    b"id" => id = Some(String::new()),
                    b"owner" => owner = Some(String::new()),
                    _ => {}
                },
                Event::CData(_)
                | Event::Comment(_)
                | Event::Decl(_)
                | Event::PI(_)
                | Event::DocType(_) => {}
            }
        }
        Some(DpeInstanceRead {
            appliance: appliance?,
            id: id?,
            owner: owner?,
            guest,
        })
    }
}

#[derive(Debug, Serialize)]
pub struct Memory {
    #[serde(rename = "@unit")]
    pub unit: &'static str,
    #[serde(rename = "$text")]
    pub value: u64,
}

#[derive(Debug, Serialize)]
pub struct Os<'a> {
    #[serde(rename = "type")]
    pub kind: OsType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initrd: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmdline: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct OsType {
    #[serde(rename = "@arch")]
    pub arch: &'static str,
    #[serde(rename = "@machine")]
    pub machine: &'static str,
    #[serde(rename = "$text")]
    pub value: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Features {
    pub acpi: Empty,
    pub apic: Empty,
    /// Under TCG only (libvirt refuses it elsewhere).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcg: Option<Tcg>,
}

/// Software emulation's settings: the translation cache's size. QEMU's
/// default is 1 GiB, which an idle guest filled with the code its boot
/// ran and kept resident, two thirds of a warm member's memory.
#[derive(Debug, Serialize)]
pub struct Tcg {
    #[serde(rename = "tb-cache")]
    pub tb_cache: Memory,
}

#[derive(Debug, Serialize)]
pub struct Empty {}

#[derive(Debug, Serialize)]
pub struct Cpu {
    /// `host-passthrough` under KVM; QEMU's default model under TCG.
    #[serde(rename = "@mode", skip_serializing_if = "Option::is_none")]
    pub mode: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct Devices<'a> {
    pub disk: Vec<Disk<'a>>,
    pub interface: Vec<Interface<'a>>,
    pub serial: Serial<'a>,
    pub console: Console,
    /// The QEMU guest agent's channel: a warm-pool member is personalized
    /// through it.
    pub channel: Channel,
    pub graphics: Graphics,
    pub rng: Rng,
    pub memballoon: MemBalloon,
}

/// The balloon, with free page reporting: the guest hands the pages it
/// has freed back to the host, so an idle guest (a warm-pool member above
/// all) holds what it uses rather than all it ever touched, booting.
#[derive(Debug, Serialize)]
pub struct MemBalloon {
    #[serde(rename = "@model")]
    pub model: &'static str,
    #[serde(rename = "@freePageReporting")]
    pub free_page_reporting: &'static str,
}

/// A virtio-serial channel on a socket libvirt names itself.
#[derive(Debug, Serialize)]
pub struct Channel {
    #[serde(rename = "@type")]
    pub kind: &'static str,
    pub target: ChannelTarget,
}

/// The display: a VNC server that listens nowhere (`listen type='none'`).
/// The portal reaches it through libvirt (virDomainOpenGraphicsFD), so
/// the host has no VNC port and no VNC password.
#[derive(Debug, Serialize)]
pub struct Graphics {
    #[serde(rename = "@type")]
    pub kind: &'static str,
    pub listen: Listen,
}

#[derive(Debug, Serialize)]
pub struct Listen {
    #[serde(rename = "@type")]
    pub kind: &'static str,
}

#[derive(Debug, Serialize)]
pub struct ChannelTarget {
    #[serde(rename = "@type")]
    pub kind: &'static str,
    #[serde(rename = "@name")]
    pub name: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Disk<'a> {
    #[serde(rename = "@type")]
    pub kind: &'static str,
    #[serde(rename = "@device")]
    pub device: &'static str,
    pub driver: DiskDriver,
    pub source: FileSource<'a>,
    pub target: DiskTarget,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readonly: Option<Empty>,
}

#[derive(Debug, Serialize)]
pub struct DiskDriver {
    #[serde(rename = "@name")]
    pub name: &'static str,
    #[serde(rename = "@type")]
    pub format: &'static str,
}

#[derive(Debug, Serialize)]
pub struct FileSource<'a> {
    #[serde(rename = "@file")]
    pub file: &'a str,
}

#[derive(Debug, Serialize)]
pub struct DiskTarget {
    #[serde(rename = "@dev")]
    pub dev: &'static str,
    #[serde(rename = "@bus")]
    pub bus: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Interface<'a> {
    #[serde(rename = "@type")]
    pub kind: &'static str,
    pub mac: Mac<'a>,
    pub source: InterfaceSource<'a>,
    pub model: Model,
    pub filterref: FilterRef<'a>,
}

/// libvirt's network filter on the guest's NIC. dpe uses `clean-traffic`:
/// the guest may send only from its own MAC and IP address, so it cannot
/// take over another guest's address or DHCP lease.
#[derive(Debug, Serialize)]
pub struct FilterRef<'a> {
    #[serde(rename = "@filter")]
    pub filter: &'static str,
    /// `IP` for an address known in advance; without it libvirt learns
    /// the address from the guest's first use of it (its DHCP lease).
    pub parameter: Vec<FilterParameter<'a>>,
}

#[derive(Debug, Serialize)]
pub struct FilterParameter<'a> {
    #[serde(rename = "@name")]
    pub name: &'static str,
    #[serde(rename = "@value")]
    pub value: &'a str,
}

#[derive(Debug, Serialize)]
pub struct Mac<'a> {
    #[serde(rename = "@address")]
    pub address: &'a str,
}

/// `network=` for a libvirt network, `bridge=` for a host bridge.
#[derive(Debug, Serialize)]
pub struct InterfaceSource<'a> {
    #[serde(rename = "@network", skip_serializing_if = "Option::is_none")]
    pub network: Option<&'a str>,
    #[serde(rename = "@bridge", skip_serializing_if = "Option::is_none")]
    pub bridge: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct Model {
    #[serde(rename = "@type")]
    pub kind: &'static str,
}

/// The serial console: a pty, so that libvirt can hand it out as a
/// stream (virDomainOpenConsole, the portal's console page), and logged
/// to a file that the engine reads for boot diagnostics (and tests read
/// for the guest's own messages).
#[derive(Debug, Serialize)]
pub struct Serial<'a> {
    #[serde(rename = "@type")]
    pub kind: &'static str,
    pub log: SerialLog<'a>,
    pub target: PortTarget,
}

#[derive(Debug, Serialize)]
pub struct SerialLog<'a> {
    #[serde(rename = "@file")]
    pub file: &'a str,
    #[serde(rename = "@append")]
    pub append: &'static str,
}

#[derive(Debug, Serialize)]
pub struct PortTarget {
    #[serde(rename = "@port")]
    pub port: u32,
}

#[derive(Debug, Serialize)]
pub struct Console {
    #[serde(rename = "@type")]
    pub kind: &'static str,
    pub target: ConsoleTarget,
}

#[derive(Debug, Serialize)]
pub struct ConsoleTarget {
    #[serde(rename = "@type")]
    pub kind: &'static str,
    #[serde(rename = "@port")]
    pub port: u32,
}

#[derive(Debug, Serialize)]
pub struct Rng {
    #[serde(rename = "@model")]
    pub model: &'static str,
    pub backend: RngBackend,
}

#[derive(Debug, Serialize)]
pub struct RngBackend {
    #[serde(rename = "@model")]
    pub model: &'static str,
    #[serde(rename = "$text")]
    pub device: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serial_line_is_a_pty_libvirt_can_stream_and_still_logs_to_its_file() {
        let serial = Serial {
            kind: "pty",
            log: SerialLog {
                file: "/srv/dpe/a&b.log",
                append: "on",
            },
            target: PortTarget { port: 0 },
        };
        assert_eq!(
            crate::engine::xml::to_xml(&serial).unwrap(),
            "<Serial type=\"pty\"><log file=\"/srv/dpe/a&amp;b.log\" append=\"on\"/>\
             <target port=\"0\"/></Serial>"
        );
    }

    #[test]
    fn the_balloon_reports_the_guest_s_free_pages() {
        let balloon = MemBalloon {
            model: "virtio",
            free_page_reporting: "on",
        };
        assert_eq!(
            crate::engine::xml::to_xml(&balloon).unwrap(),
            "<MemBalloon model=\"virtio\" freePageReporting=\"on\"/>"
        );
    }

    #[test]
    fn under_tcg_the_translation_cache_has_a_size_of_its_own() {
        let features = Features {
            acpi: Empty {},
            apic: Empty {},
            tcg: Some(Tcg {
                tb_cache: Memory {
                    unit: "MiB",
                    value: 64,
                },
            }),
        };
        assert_eq!(
            crate::engine::xml::to_xml(&features).unwrap(),
            "<Features><acpi/><apic/><tcg><tb-cache unit=\"MiB\">64</tb-cache></tcg></Features>"
        );
    }

    #[test]
    fn the_display_listens_nowhere() {
        let graphics = Graphics {
            kind: "vnc",
            listen: Listen { kind: "none" },
        };
        assert_eq!(
            crate::engine::xml::to_xml(&graphics).unwrap(),
            "<Graphics type=\"vnc\"><listen type=\"none\"/></Graphics>"
        );
    }

    #[test]
    fn metadata_is_read_back_whatever_the_prefix() {
        let xml = "<x:instance xmlns:x=\"https://dpe.invalid/xmlns/instance/1\">\
                   <x:appliance>a1</x:appliance><x:id>7f1c</x:id><x:owner>ann &amp; co</x:owner></x:instance>";
        assert_eq!(
            DpeInstanceRead::parse(xml),
            Some(DpeInstanceRead {
                appliance: "a1".into(),
                id: "7f1c".into(),
                owner: "ann & co".into(),
                guest: None,
            })
        );
        assert_eq!(DpeInstanceRead::parse("<other/>"), None);
        let nobodys = "<instance xmlns=\"https://dpe.invalid/xmlns/instance/1\">\
                       <appliance>a1</appliance><id>7f1c</id><owner/></instance>";
        assert_eq!(
            DpeInstanceRead::parse(nobodys).map(|m| m.owner),
            Some(String::new()),
            "a pool member's"
        );
    }

    #[test]
    fn a_guests_record_comes_back_from_the_metadata_libvirt_keeps() {
        let record = GuestRecord {
            name: "team-wiki".into(),
            volume_stem: "dpe-a1-7f1c".into(),
            vcpus: 2,
            memory_mib: 2048,
            disk_gib: 10,
            network: "dpe-net".into(),
            mac: "52:54:00:12:34:56".into(),
            zone: app::model::NetworkZone::Outside,
            static_address: Some("192.0.2.10".into()),
            static_network: Some(r#"{"address":"192.0.2.10","prefix_len":24}"#.into()),
        };
        let json = serde_json::to_string(&record).unwrap();
        let element = metadata_element(&DpeInstance {
            xmlns: DPE_NS,
            appliance: "a1",
            id: "7f1c",
            owner: "ann",
            guest: Some(&json),
        })
        .unwrap();
        // libvirt hands it back under a prefix of its choosing.
        let back = element
            .replace("<instance>", &format!("<p:instance xmlns:p=\"{DPE_NS}\">"))
            .replace("</instance>", "</p:instance>");
        let read = DpeInstanceRead::parse(&back).unwrap();
        assert_eq!(read.owner, "ann");
        assert_eq!(read.guest, Some(record));
    }
}
