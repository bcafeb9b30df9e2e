use leptos::prelude::*;

use super::FieldError;
use crate::org::Quota;

/// The four inputs of a quota form, filled with `quota`; `prefix` keeps
/// their ids apart when a page has two such forms. `error` gives the
/// message for a field name after a failed save.
pub fn quota_fields(
    prefix: &'static str,
    quota: Quota,
    error: impl Fn(&'static str) -> Signal<Option<String>> + Copy + 'static,
) -> impl IntoView {
    let text = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    let field = move |name: &'static str, label: &'static str, value: String| {
        let id = format!("{prefix}-{name}");
        let error_id = format!("{prefix}-{name}-error");
        view! {
            <div>
                <label for=id.clone()>{label}</label>
                <input id=id name=name type="text" inputmode="numeric" value=value
                    placeholder="no limit" aria-describedby=error_id.clone() />
                <FieldError id=error_id message=error(name) />
            </div>
        }
    };
    view! {
        {field("instances", "Instances", text(quota.instances.map(u64::from)))}
        {field("vcpus", "vCPUs", text(quota.vcpus.map(u64::from)))}
        {field("memory_mib", "Memory (MiB)", text(quota.memory_mib))}
        {field("disk_gib", "Disk (GiB)", text(quota.disk_gib))}
    }
}
