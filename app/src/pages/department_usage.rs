//! The department page's Use over time: what its instances and its
//! sub-departments' take (instances, vCPUs, memory, disk), each drawn
//! against its quota as it then was, over the last hour, day or month.
//! Server-rendered SVG like an instance's Usage, with the same range in
//! the address (`?usage=day`), following the live feed's readings.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::usage::{Chart, Frame, RangeNav, bytes, range_of, rounded_top};
use crate::api::usage::get_department_usage;
use crate::live::LiveFeed;
use crate::model::{DepartmentUsagePoint, DepartmentUsageSeries, UsageRange};

#[component]
pub fn DepartmentUsageSection(id: i64) -> impl IntoView {
    let query = use_query_map();
    let range = Memo::new(move |_| range_of(query.read().get("usage")));
    let feed = LiveFeed::get();
    let usage = Resource::new(
        move || {
            let range = range.get();
            (range, (range == UsageRange::Hour).then(|| feed.readings()))
        },
        move |(range, _)| get_department_usage(id, range),
    );
    view! {
        <section class="card usage" aria-labelledby="usage-title" id="usage">
            <h2 id="usage-title">"Use over time"</h2>
            <RangeNav range label="Use over" />
            <Transition fallback=|| view! { <p class="hint">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match usage.await {
                        Ok(series) => view! { <QuotaCharts series /> }.into_any(),
                        Err(e) => view! { <p class="banner error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn QuotaCharts(series: DepartmentUsageSeries) -> impl IntoView {
    let p = &series.points;
    if p.is_empty() {
        return view! {
            <p class="hint" id="usage-empty">"Nothing recorded yet: use is recorded every 10 s."</p>
        }
        .into_any();
    }
    let frame = Frame {
        from: series.until - series.range.span_seconds(),
        until: series.until,
        gap: series.tier_seconds * 3,
    };
    type Figure = fn(&DepartmentUsagePoint) -> f64;
    type Limit = fn(&DepartmentUsagePoint) -> Option<f64>;
    let last = p.last().cloned();
    let chart = |key, title, used: Figure, limit: Limit, show: fn(f64) -> String| {
        let top = rounded_top(
            p.iter().flat_map(|p| [Some(used(p)), limit(p)]).flatten(),
            1.0,
        );
        let now = last.as_ref().map(|l| match limit(l) {
            Some(q) => format!("{} of {}", show(used(l)), show(q)),
            None => format!("{}, no quota", show(used(l))),
        });
        Chart {
            key,
            title,
            now: now.unwrap_or_default(),
            top_label: show(top),
            lines: vec![
                ("line-a", frame.lines(p, top, |p| Some(used(p)))),
                ("line-b", frame.lines(p, top, limit)),
            ],
        }
    };
    let count = |n: f64| format!("{n:.0}");
    let mib = |m: f64| bytes(m * 1024.0 * 1024.0);
    let gib = |g: f64| format!("{g:.0} GiB");
    let charts = [
        chart(
            "instances",
            "Instances",
            |p| p.instances,
            |p| p.quota_instances,
            count,
        ),
        chart("vcpus", "vCPUs", |p| p.vcpus, |p| p.quota_vcpus, count),
        chart(
            "memory",
            "Memory",
            |p| p.memory_mib,
            |p| p.quota_memory_mib,
            mib,
        ),
        chart("disk", "Disk", |p| p.disk_gib, |p| p.quota_disk_gib, gib),
    ];
    view! {
        <div class="charts">
            {charts.into_iter().map(|c| c.view()).collect_view()}
        </div>
        <p class="hint">{format!(
            "{} of {}s each; in blue what the department's instances take, in orange its quota.",
            if series.tier_seconds == 10 { "Readings" } else { "Peaks" },
            series.tier_seconds
        )}</p>
    }
    .into_any()
}
