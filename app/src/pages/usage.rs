//! The instance page's Usage section: CPU, memory, disk and network, and
//! the application's requests and response times through the gateway,
//! over the last hour, day or month, drawn as SVG on the server (so it shows
//! without JavaScript too). The range is in the address (`?usage=day`);
//! a hydrated page reads the hour again as readings come (the live feed's
//! `readings` event, every 10 s).

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::api::usage::get_usage;
use crate::live::LiveFeed;
use crate::model::{DepartmentUsagePoint, TrafficPoint, UsagePoint, UsageRange, UsageSeries};

/// The drawing's size, in its own units (it scales to the card).
const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 100.0;

pub(super) fn range_of(text: Option<String>) -> UsageRange {
    match text.as_deref() {
        Some("day") => UsageRange::Day,
        Some("month") => UsageRange::Month,
        _ => UsageRange::Hour,
    }
}

fn range_key(range: UsageRange) -> &'static str {
    match range {
        UsageRange::Hour => "hour",
        UsageRange::Day => "day",
        UsageRange::Month => "month",
    }
}

/// The ranges a usage section offers, as links to the same page that
/// come back to the section; the one shown is marked.
#[component]
pub(super) fn RangeNav(range: Memo<UsageRange>, label: &'static str) -> impl IntoView {
    view! {
        <nav class="ranges" aria-label=label>
            {UsageRange::ALL.map(|r| view! {
                <a href=format!("?usage={}#usage", range_key(r))
                    aria-current=move || (range.get() == r).then_some("true")>{r.label()}</a>
            })}
        </nav>
    }
}

#[component]
pub fn UsageSection(id: i64) -> impl IntoView {
    let query = use_query_map();
    let range = Memo::new(move |_| range_of(query.read().get("usage")));
    // The hour's chart follows the live feed's readings; a longer range's
    // last point is 5 minutes or an hour long, and stays.
    let feed = LiveFeed::get();
    let usage = Resource::new(
        move || {
            let range = range.get();
            (range, (range == UsageRange::Hour).then(|| feed.readings()))
        },
        move |(range, _)| get_usage(id, range),
    );
    view! {
        <section class="card usage" aria-labelledby="usage-title" id="usage">
            <h2 id="usage-title">"Usage"</h2>
            <RangeNav range label="Usage over" />
            <Transition fallback=|| view! { <p class="hint">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match usage.await {
                        Ok(series) => view! { <Charts series /> }.into_any(),
                        Err(e) => view! { <p class="banner error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn Charts(series: UsageSeries) -> impl IntoView {
    if series.points.is_empty() && series.traffic.is_empty() {
        return view! {
            <p class="hint" id="usage-empty">
                "No readings yet: the instance's use is read every 10 s while it runs."
            </p>
        }
        .into_any();
    }
    let from = series.until - series.range.span_seconds();
    let frame = Frame {
        from,
        until: series.until,
        gap: series.tier_seconds * 3,
    };
    let mut charts = guest_charts(&frame, &series.points);
    charts.extend(traffic_charts(&frame, &series.traffic));
    view! {
        <div class="charts">
            {charts.into_iter().map(|c| c.view()).collect_view()}
        </div>
        <p class="hint">{format!(
            "{} of {}s each; in blue what is read or received, in orange what is written or sent. \
             Requests and response times are the application's, as dpe's gateway passed them \
             (errors in orange; the median in blue, the 99th percentile in orange).",
            if series.tier_seconds == 10 { "Readings" } else { "Means" },
            series.tier_seconds
        )}</p>
    }
    .into_any()
}

/// What the guest used: CPU, memory, disk and network.
fn guest_charts(frame: &Frame, p: &[UsagePoint]) -> Vec<Chart> {
    if p.is_empty() {
        return Vec::new();
    }
    vec![
        percent_chart(frame, p, "cpu", "CPU", |p| p.cpu_percent),
        used_of_chart(frame, p, ("memory", "Memory"), |p| {
            (p.memory_used_bytes, p.memory_bytes)
        }),
        rates_chart(frame, p, ("disk", "Disk"), ["read", "write"], |p| {
            [p.disk_read_bps, p.disk_write_bps]
        }),
        rates_chart(frame, p, ("network", "Network"), ["in", "out"], |p| {
            [p.net_rx_bps, p.net_tx_bps]
        }),
    ]
}

/// The newest point's figures as the chart's "now", or nothing.
fn now_of<P>(points: &[P], said: impl Fn(&P) -> String) -> String {
    points.last().map(said).unwrap_or_default()
}

/// A share of 100 %: a guest's or a host's CPU.
pub(super) fn percent_chart<P: Timed>(
    frame: &Frame,
    p: &[P],
    key: &'static str,
    title: &'static str,
    value: fn(&P) -> f64,
) -> Chart {
    Chart {
        key,
        title,
        now: now_of(p, |p| format!("{:.0} %", value(p))),
        top_label: "100 %".into(),
        lines: vec![("line-a", frame.lines(p, 100.0, |p| Some(value(p))))],
    }
}

/// What is used of what there is (memory, storage), scaled to the most
/// there was: `(key, title)`, and `(used, total)` of a point.
pub(super) fn used_of_chart<P: Timed>(
    frame: &Frame,
    p: &[P],
    (key, title): (&'static str, &'static str),
    figures: fn(&P) -> (f64, f64),
) -> Chart {
    let top = p.iter().map(|p| figures(p).1).fold(0.0, f64::max);
    Chart {
        key,
        title,
        now: now_of(p, |p| {
            let (used, total) = figures(p);
            format!("{} of {}", bytes(used), bytes(total))
        }),
        top_label: bytes(top),
        lines: vec![("line-a", frame.lines(p, top, |p| Some(figures(p).0)))],
    }
}

/// Two rates in bytes a second (disk read and write, network in and
/// out), named `names`, on one scale.
pub(super) fn rates_chart<P: Timed>(
    frame: &Frame,
    p: &[P],
    (key, title): (&'static str, &'static str),
    names: [&'static str; 2],
    figures: fn(&P) -> [f64; 2],
) -> Chart {
    let top = top_of(p, figures);
    Chart {
        key,
        title,
        now: now_of(p, |p| {
            let [a, b] = figures(p);
            format!("{} {}/s · {} {}/s", names[0], bytes(a), names[1], bytes(b))
        }),
        top_label: format!("{}/s", bytes(top)),
        lines: vec![
            ("line-a", frame.lines(p, top, |p| Some(figures(p)[0]))),
            ("line-b", frame.lines(p, top, |p| Some(figures(p)[1]))),
        ],
    }
}

/// What the application answered through the gateway: requests (and
/// errors) a second, and the time to an answer's head.
fn traffic_charts(frame: &Frame, t: &[TrafficPoint]) -> Vec<Chart> {
    if t.is_empty() {
        return Vec::new();
    }
    let last = t.last().cloned();
    let errors = |p: &TrafficPoint| p.client_errors_per_s + p.server_errors_per_s;
    let requests_top = rounded_top(t.iter().map(|p| p.requests_per_s), 1.0);
    let latency_top = rounded_top(t.iter().filter_map(|p| p.p99_ms.or(p.p50_ms)), 1.0);
    vec![
        Chart {
            key: "requests",
            title: "Requests",
            now: last
                .as_ref()
                .map(|p| {
                    format!(
                        "{}/s · 4xx {}/s · 5xx {}/s",
                        rate(p.requests_per_s),
                        rate(p.client_errors_per_s),
                        rate(p.server_errors_per_s)
                    )
                })
                .unwrap_or_default(),
            top_label: format!("{}/s", rate(requests_top)),
            lines: vec![
                (
                    "line-a",
                    frame.lines(t, requests_top, |p| Some(p.requests_per_s)),
                ),
                ("line-b", frame.lines(t, requests_top, |p| Some(errors(p)))),
            ],
        },
        Chart {
            key: "latency",
            title: "Response time",
            now: last
                .as_ref()
                .and_then(|p| Some(format!("p50 {} · p99 {}", ms(p.p50_ms?), ms(p.p99_ms?))))
                .unwrap_or_else(|| "no requests".into()),
            top_label: ms(latency_top),
            lines: vec![
                ("line-a", frame.lines(t, latency_top, |p| p.p50_ms)),
                ("line-b", frame.lines(t, latency_top, |p| p.p99_ms)),
            ],
        },
    ]
}

/// The highest of `figures`, rounded up to a power of two, at least
/// `least`.
pub(super) fn rounded_top(figures: impl Iterator<Item = f64>, least: f64) -> f64 {
    figures.fold(least, f64::max).log2().ceil().exp2()
}

/// A rate as people read it: 0.1, 12, 1,250 → "1250".
fn rate(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    }
}

/// Milliseconds as people read them: 4.2 ms, 350 ms, 2.5 s.
fn ms(value: f64) -> String {
    if value >= 1000.0 {
        format!("{:.1} s", value / 1000.0)
    } else if value >= 10.0 {
        format!("{value:.0} ms")
    } else {
        format!("{value:.1} ms")
    }
}

/// A chart point's period start.
pub(super) trait Timed {
    fn at(&self) -> i64;
}

impl Timed for UsagePoint {
    fn at(&self) -> i64 {
        self.at
    }
}

impl Timed for TrafficPoint {
    fn at(&self) -> i64 {
        self.at
    }
}

impl Timed for DepartmentUsagePoint {
    fn at(&self) -> i64 {
        self.at
    }
}

/// One chart: its lines are SVG point lists, one per stretch of readings.
pub(super) struct Chart {
    pub key: &'static str,
    pub title: &'static str,
    pub now: String,
    pub top_label: String,
    pub lines: Vec<(&'static str, Vec<String>)>,
}

impl Chart {
    pub fn view(self) -> impl IntoView {
        let id = format!("usage-{}", self.key);
        self.view_as(id)
    }

    /// The chart with its own element id (where a page draws several of
    /// one kind: one per host).
    pub fn view_as(self, id: String) -> impl IntoView {
        let label = format!(
            "{}: now {}, scale up to {}",
            self.title, self.now, self.top_label
        );
        view! {
            <figure class="chart" id=id>
                <figcaption>
                    <span class="chart-title">{self.title}</span>
                    <span class="chart-now">{self.now}</span>
                </figcaption>
                <svg viewBox=format!("0 0 {WIDTH} {HEIGHT}") preserveAspectRatio="none"
                    role="img" aria-label=label>
                    <line class="grid" x1="0" y1=HEIGHT / 2.0 x2=WIDTH y2=HEIGHT / 2.0 />
                    {self.lines.into_iter().flat_map(|(class, stretches)| {
                        stretches.into_iter().map(move |points| view! {
                            <polyline class=class points=points vector-effect="non-scaling-stroke" />
                        })
                    }).collect_view()}
                </svg>
                <span class="chart-top">{self.top_label}</span>
            </figure>
        }
    }
}

/// Where a chart's time runs, and how far apart two readings may be
/// before the line breaks (the instance did not run in between).
pub(super) struct Frame {
    pub from: i64,
    pub until: i64,
    pub gap: i64,
}

impl Frame {
    /// The SVG point lists of `value` over the points, scaled to `top`;
    /// a point without a value is not drawn.
    pub fn lines<P: Timed>(
        &self,
        points: &[P],
        top: f64,
        value: impl Fn(&P) -> Option<f64>,
    ) -> Vec<String> {
        let span = (self.until - self.from).max(1) as f64;
        let top = if top > 0.0 { top } else { 1.0 };
        let mut stretches: Vec<String> = Vec::new();
        let mut previous: Option<i64> = None;
        for (at, value) in points.iter().filter_map(|p| Some((p.at(), value(p)?))) {
            let x = (at - self.from) as f64 / span * WIDTH;
            let y = HEIGHT - (value / top).clamp(0.0, 1.0) * HEIGHT;
            let xy = format!("{x:.1},{y:.1}");
            match (previous, stretches.last_mut()) {
                (Some(before), Some(line)) if at - before <= self.gap => {
                    line.push(' ');
                    line.push_str(&xy);
                }
                (Some(_), _) | (None, _) => stretches.push(xy),
            }
            previous = Some(at);
        }
        // A lone reading draws nothing as a line: give it a short dash.
        for line in &mut stretches {
            if !line.contains(' ')
                && let Some((x, y)) = line.split_once(',')
                && let Ok(x) = x.parse::<f64>()
            {
                *line = format!("{:.1},{y} {x:.1},{y}", (x - 2.0).max(0.0));
            }
        }
        stretches
    }
}

/// The highest of the figures, rounded up to a power of two (at least
/// 1 KiB, so a quiet disk draws a flat line, not noise scaled up).
fn top_of<P>(points: &[P], figures: impl Fn(&P) -> [f64; 2]) -> f64 {
    let high = points.iter().flat_map(&figures).fold(0.0, f64::max);
    high.max(1024.0).log2().ceil().exp2()
}

/// Bytes as people read them: 512 B, 4.0 KiB, 1.5 GiB.
pub(super) fn bytes(value: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = value.max(0.0);
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{v:.0} {}", UNITS[unit])
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(at: i64, cpu: f64) -> UsagePoint {
        UsagePoint {
            at,
            cpu_percent: cpu,
            memory_used_bytes: 0.0,
            memory_bytes: 0.0,
            disk_read_bps: 0.0,
            disk_write_bps: 0.0,
            net_rx_bps: 0.0,
            net_tx_bps: 0.0,
        }
    }

    #[test]
    fn a_line_runs_from_the_ranges_start_to_its_end_and_breaks_where_readings_stopped() {
        let frame = Frame {
            from: 0,
            until: 600,
            gap: 30,
        };
        let points = [
            at(0, 0.0),
            at(10, 50.0),
            at(20, 100.0),
            at(300, 25.0),
            at(600, 200.0),
        ];
        let lines = frame.lines(&points, 100.0, |p| Some(p.cpu_percent));
        assert_eq!(
            lines,
            [
                "0.0,100.0 10.0,50.0 20.0,0.0",
                "298.0,75.0 300.0,75.0",
                "598.0,0.0 600.0,0.0"
            ],
            "three stretches, a lone reading as a dash; a figure over the top is drawn at the top"
        );
    }

    #[test]
    fn a_period_without_a_figure_is_not_drawn_and_the_line_goes_on_past_it() {
        let frame = Frame {
            from: 0,
            until: 100,
            gap: 30,
        };
        let window = |at: i64, p99_ms: Option<f64>| TrafficPoint {
            at,
            requests_per_s: 0.0,
            client_errors_per_s: 0.0,
            server_errors_per_s: 0.0,
            p50_ms: None,
            p99_ms,
            bytes_in_bps: 0.0,
            bytes_out_bps: 0.0,
        };
        let points = [
            window(0, Some(50.0)),
            window(10, None),
            window(20, Some(100.0)),
        ];
        assert_eq!(
            frame.lines(&points, 100.0, |p| p.p99_ms),
            ["0.0,50.0 120.0,0.0"]
        );
        assert_eq!(ms(4.25), "4.2 ms");
        assert_eq!(ms(2500.0), "2.5 s");
        assert_eq!(rounded_top([3.0, 0.2].into_iter(), 1.0), 4.0);
    }

    #[test]
    fn figures_read_as_people_write_them_and_scales_round_up_to_a_power_of_two() {
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(4096.0), "4.0 KiB");
        assert_eq!(bytes(1.5 * 1024.0 * 1024.0 * 1024.0), "1.5 GiB");
        let p = |w: f64| UsagePoint {
            disk_write_bps: w,
            ..at(0, 0.0)
        };
        assert_eq!(
            top_of(&[p(3000.0)], |p| [p.disk_read_bps, p.disk_write_bps]),
            4096.0
        );
        assert_eq!(
            top_of(&[p(0.0)], |p| [p.disk_read_bps, p.disk_write_bps]),
            1024.0
        );
    }
}
