//! Domain snapshot XML.

use serde::Serialize;

/// A snapshot to take: libvirt chooses internal (qcow2) snapshots of
/// every disk, with the memory when the domain runs.
#[derive(Debug, Serialize)]
#[serde(rename = "domainsnapshot")]
pub struct DomainSnapshot<'a> {
    pub name: &'a str,
    pub description: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshots_text_is_escaped() {
        let xml = super::super::to_xml(&DomainSnapshot {
            name: "dpe-snap-7",
            description: "before <upgrade> & \"plugins\"",
        })
        .unwrap();
        assert_eq!(
            xml,
            concat!(
                "<domainsnapshot><name>dpe-snap-7</name>",
                r#"<description>before &lt;upgrade&gt; &amp; "plugins"</description>"#,
                "</domainsnapshot>"
            )
        );
    }
}
