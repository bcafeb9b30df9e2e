//! The Hosts page's Use over time: each host's own CPU, memory and
//! storage (dpe's pool), and its guests' network, over the last hour, day
//! or month. Server-rendered SVG like an instance's Usage, with the same
//! range in the address (`?usage=day`), following the live feed's
//! readings. All hosts in one section, one under the other, so an admin
//! sees at a glance which is busy or full.

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::usage::{
    Chart, Frame, RangeNav, Timed, percent_chart, range_of, rates_chart, used_of_chart,
};
use crate::api::usage::get_hosts_usage;
use crate::error::AppError;
use crate::live::LiveFeed;
use crate::model::{HostUsagePoint, HostUsageSeries, UsageRange};

impl Timed for HostUsagePoint {
    fn at(&self) -> i64 {
        self.at
    }
}

#[component]
pub fn HostUsageSection() -> impl IntoView {
    let query = use_query_map();
    let range = Memo::new(move |_| range_of(query.read().get("usage")));
    let feed = LiveFeed::get();
    let usage = Resource::new(
        move || {
            let range = range.get();
            (range, (range == UsageRange::Hour).then(|| feed.readings()))
        },
        move |(range, _)| get_hosts_usage(range),
    );
    // The page's own banner tells whoever may not see hosts so: the
    // section then shows nothing, not a second alert.
    view! {
        <Transition fallback=|| view! { <p class="hint">"Loading…"</p> }>
            {move || Suspend::new(async move {
                let hosts = match usage.await {
                    Ok(hosts) => hosts,
                    Err(AppError::Forbidden | AppError::Unauthenticated) => {
                        return ().into_any();
                    }
                    Err(e) => {
                        return view! { <p class="banner error" role="alert">{e.to_string()}</p> }
                            .into_any();
                    }
                };
                view! {
                    <section class="card usage hosts-usage" aria-labelledby="usage-title" id="usage">
                        <h2 id="usage-title">"Use over time"</h2>
                        <RangeNav range label="Use over" />
                        {hosts.into_iter().map(|series| view! { <HostCharts series /> }).collect_view()}
                        <p class="hint">
                            "CPU is the share of all the host's CPUs in use, by anyone; memory in use leaves out the page cache; storage is dpe's pool on the host; network is dpe's guests' (in blue received, in orange sent). Hosts reached over the network are not read yet."
                        </p>
                    </section>
                }
                .into_any()
            })}
        </Transition>
    }
}

#[component]
fn HostCharts(series: HostUsageSeries) -> impl IntoView {
    let heading = view! { <h3 class="host-usage-title">{series.host.clone()}</h3> };
    let p = &series.points;
    if p.is_empty() {
        return view! {
            <div class="host-usage" data-host=series.host.clone()>
                {heading}
                <p class="hint">"No readings yet: the host is read every 10 s while it answers."</p>
            </div>
        }
        .into_any();
    }
    let frame = Frame {
        from: series.until - series.range.span_seconds(),
        until: series.until,
        gap: series.tier_seconds * 3,
    };
    let charts = host_charts(&frame, p);
    let id = series.host_id;
    view! {
        <div class="host-usage" data-host=series.host.clone()>
            {heading}
            <div class="charts">
                {charts.into_iter().map(|c| {
                    let element = format!("usage-host-{id}-{}", c.key);
                    c.view_as(element)
                }).collect_view()}
            </div>
        </div>
    }
    .into_any()
}

/// The host's CPU, memory, storage and network charts.
fn host_charts(frame: &Frame, p: &[HostUsagePoint]) -> Vec<Chart> {
    vec![
        percent_chart(frame, p, "cpu", "CPU", |p| p.cpu_percent),
        used_of_chart(frame, p, ("memory", "Memory"), |p| {
            (p.memory_used_bytes, p.memory_bytes)
        }),
        used_of_chart(frame, p, ("storage", "Storage"), |p| {
            (p.storage_used_bytes, p.storage_bytes)
        }),
        rates_chart(frame, p, ("network", "Network"), ["in", "out"], |p| {
            [p.net_rx_bps, p.net_tx_bps]
        }),
    ]
}
