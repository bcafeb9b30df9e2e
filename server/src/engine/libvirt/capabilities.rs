//! The parts of libvirt's capabilities XML that placement needs.

use app::model::Acceleration;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Capabilities {
    #[serde(default)]
    pub host: Option<Host>,
    #[serde(rename = "guest", default)]
    pub guests: Vec<Guest>,
}

/// The host part: only its CPU, which the Hosts page names.
#[derive(Debug, Deserialize)]
pub struct Host {
    #[serde(default)]
    pub cpu: Option<HostCpu>,
}

#[derive(Debug, Deserialize)]
pub struct HostCpu {
    #[serde(default)]
    pub arch: Option<String>,
    #[serde(default)]
    pub model: Option<Text>,
    #[serde(default)]
    pub vendor: Option<Text>,
}

/// An element's text, whatever attributes it has.
#[derive(Debug, Deserialize)]
pub struct Text {
    #[serde(rename = "$text", default)]
    pub text: String,
}

#[derive(Debug, Deserialize)]
pub struct Guest {
    pub arch: Arch,
}

#[derive(Debug, Deserialize)]
pub struct Arch {
    #[serde(rename = "@name")]
    pub name: String,
    #[serde(rename = "domain", default)]
    pub domains: Vec<DomainType>,
}

#[derive(Debug, Deserialize)]
pub struct DomainType {
    #[serde(rename = "@type")]
    pub kind: String,
}

impl Capabilities {
    pub fn parse(xml: &str) -> Result<Capabilities, quick_xml::DeError> {
        quick_xml::de::from_str(xml)
    }

    /// The host's CPU as libvirt names it ("Intel Skylake-Client-IBRS,
    /// x86_64"); `None` when it names no model (the test driver).
    pub fn cpu_model(&self) -> Option<String> {
        let cpu = self.host.as_ref()?.cpu.as_ref()?;
        let model = cpu
            .model
            .as_ref()
            .map(|m| m.text.trim())
            .filter(|m| !m.is_empty())?;
        let vendor = cpu
            .vendor
            .as_ref()
            .map(|v| v.text.trim())
            .filter(|v| !v.is_empty());
        let named = match vendor {
            Some(vendor) => format!("{vendor} {model}"),
            None => model.to_owned(),
        };
        Some(match cpu.arch.as_deref() {
            Some(arch) => format!("{named}, {arch}"),
            None => named,
        })
    }

    /// How x86_64 guests would run. libvirt lists the `kvm` domain type only
    /// when /dev/kvm is usable (a host whose KVM is broken is started with it
    /// hidden, see scripts/libvirtd), so its absence means TCG.
    pub fn acceleration(&self, driver: &str) -> Acceleration {
        if driver.eq_ignore_ascii_case("test") {
            return Acceleration::Test;
        }
        let kvm = self
            .guests
            .iter()
            .filter(|g| g.arch.name == "x86_64")
            .flat_map(|g| &g.arch.domains)
            .any(|d| d.kind == "kvm");
        if kvm {
            Acceleration::Kvm
        } else {
            Acceleration::Tcg
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QEMU_TCG: &str = r#"<capabilities><host><uuid>x</uuid></host>
        <guest><os_type>hvm</os_type><arch name='x86_64'><wordsize>64</wordsize>
        <emulator>/usr/bin/qemu-system-x86_64</emulator><machine>pc</machine>
        <domain type='qemu'/></arch><features><acpi default='on' toggle='yes'/></features></guest>
        <guest><os_type>hvm</os_type><arch name='i686'><domain type='qemu'/><domain type='kvm'/></arch></guest>
        </capabilities>"#;

    #[test]
    fn the_host_cpu_is_named_with_its_vendor_and_arch() {
        let xml = r#"<capabilities><host><uuid>x</uuid><cpu><arch>x86_64</arch>
            <model>Skylake-Client-IBRS</model><vendor>Intel</vendor>
            <microcode version='240'/><topology sockets='1' dies='1' cores='4' threads='2'/>
            <feature name='ds'/></cpu><power_management/></host></capabilities>"#;
        let caps = Capabilities::parse(xml).unwrap();
        assert_eq!(
            caps.cpu_model().as_deref(),
            Some("Intel Skylake-Client-IBRS, x86_64")
        );
        let no_model = Capabilities::parse(QEMU_TCG).unwrap();
        assert_eq!(no_model.cpu_model(), None);
    }

    #[test]
    fn kvm_only_when_listed_for_x86_64() {
        let caps = Capabilities::parse(QEMU_TCG).unwrap();
        assert_eq!(caps.acceleration("QEMU"), Acceleration::Tcg);
        let with_kvm = QEMU_TCG.replacen(
            "<domain type='qemu'/></arch>",
            "<domain type='qemu'/><domain type='kvm'/></arch>",
            1,
        );
        assert_eq!(
            Capabilities::parse(&with_kvm).unwrap().acceleration("QEMU"),
            Acceleration::Kvm
        );
        assert_eq!(caps.acceleration("Test"), Acceleration::Test);
    }
}
