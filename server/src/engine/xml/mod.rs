//! libvirt XML documents, written by serde structs and quick-xml: never by
//! string concatenation, so names and values are always escaped.

pub mod backup;
pub mod domain;
pub mod network;
pub mod snapshot;
pub mod storage;

/// Serializes `value` as an XML document rooted at its serde name.
pub fn to_xml<T: serde::Serialize>(value: &T) -> Result<String, quick_xml::SeError> {
    quick_xml::se::to_string(value)
}
