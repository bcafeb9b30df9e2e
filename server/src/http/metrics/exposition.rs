//! A snapshot in the OpenMetrics text format. A new registry per scrape:
//! an instance deleted since the last one leaves no stale series behind.

use std::sync::OnceLock;

use app::model::{HostUsagePoint, InstanceLabels, MetricsSnapshot, UsagePoint};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use super::requests::RequestCounts;

type Labels = Vec<(&'static str, String)>;
type Gauges = Family<Labels, Gauge<f64, AtomicU64>>;
type Counters = Family<Labels, Counter<f64, AtomicU64>>;

/// One usage figure: its name, its help, and where in a reading it is.
type Figure = (&'static str, &'static str, fn(&UsagePoint) -> f64);

/// The usage figures every instance and host has.
const USAGE: [Figure; 7] = [
    (
        "cpu_percent",
        "CPU in use, of all vCPUs (100: all busy)",
        |p| p.cpu_percent,
    ),
    ("memory_used_bytes", "Memory the guests use", |p| {
        p.memory_used_bytes
    }),
    ("memory_bytes", "Memory the guests have", |p| p.memory_bytes),
    ("disk_read_bytes_per_second", "Disk reads", |p| {
        p.disk_read_bps
    }),
    ("disk_write_bytes_per_second", "Disk writes", |p| {
        p.disk_write_bps
    }),
    (
        "network_receive_bytes_per_second",
        "Network received",
        |p| p.net_rx_bps,
    ),
    ("network_transmit_bytes_per_second", "Network sent", |p| {
        p.net_tx_bps
    }),
];

/// One figure of a host's own: its name, its help, and where in a reading
/// it is.
type OwnFigure = (&'static str, &'static str, fn(&HostUsagePoint) -> f64);

/// What a host's machine itself uses, as libvirt reads it (the `host_`
/// figures above are its instances' sums). Its guests' network is there
/// already.
const HOST_OWN: [OwnFigure; 5] = [
    (
        "system_cpu_percent",
        "CPU in use on the host, by anyone, of all its CPUs (100: all busy)",
        |p| p.cpu_percent,
    ),
    (
        "system_memory_used_bytes",
        "Memory in use on the host (not free, buffers or page cache)",
        |p| p.memory_used_bytes,
    ),
    ("system_memory_bytes", "The host's memory", |p| {
        p.memory_bytes
    }),
    (
        "storage_used_bytes",
        "What dpe's storage pool on the host holds",
        |p| p.storage_used_bytes,
    ),
    (
        "storage_bytes",
        "The size of dpe's storage pool on the host",
        |p| p.storage_bytes,
    ),
];

/// A histogram whose buckets were counted elsewhere (the gateway's
/// counters): set once per scrape, encoded as it was set.
#[derive(Debug, Default)]
struct CountedHistogram(OnceLock<Counted>);

/// The sum, the count, and each bucket's upper bound and own count.
type Counted = (f64, u64, Vec<(f64, u64)>);

impl TypedMetric for CountedHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for CountedHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let (sum, count, buckets) = self.0.get().cloned().unwrap_or_default();
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// An instance's labels. `name`, not `instance`: Prometheus gives every
/// series an `instance` label of its own, the target scraped.
fn instance_labels(l: &InstanceLabels) -> Labels {
    vec![
        ("name", l.name.clone()),
        ("uuid", l.uuid.clone()),
        ("department", l.department.clone()),
        ("size", l.size.clone()),
        ("host", l.host.clone()),
    ]
}

/// One family per name, registered as it is made.
fn gauges(registry: &mut Registry, name: &str, help: &str) -> Gauges {
    let family = Gauges::default();
    registry.register(name, help, family.clone());
    family
}

fn counters(registry: &mut Registry, name: &str, help: &str) -> Counters {
    let family = Counters::default();
    registry.register(name, help, family.clone());
    family
}

fn set(family: &Gauges, labels: Labels, value: f64) {
    family.get_or_create(&labels).set(value);
}

/// The exposition of `snapshot` and the portal's request counts.
pub fn render(snapshot: &MetricsSnapshot, requests: &RequestCounts) -> String {
    let mut registry = Registry::with_prefix("dpe");
    registry.register(
        "http_requests",
        "Requests to the portal and the API, by kind of method and status class",
        requests.family.clone(),
    );

    let store = gauges(
        &mut registry,
        "store_size_bytes",
        "The store's database file",
    );
    set(&store, Vec::new(), snapshot.store_bytes as f64);

    let instances = gauges(&mut registry, "instances", "Instances by status");
    for (status, count) in &snapshot.instances {
        set(
            &instances,
            vec![("status", status.to_string())],
            *count as f64,
        );
    }

    let running = gauges(&mut registry, "tasks_running", "Tasks running now, by kind");
    let ended = counters(
        &mut registry,
        "tasks_finished",
        "Tasks ended, by kind and state",
    );
    for t in &snapshot.tasks {
        let kind = ("kind", t.kind.to_string());
        if t.state.has_ended() {
            ended
                .get_or_create(&vec![kind, ("state", t.state.to_string())])
                .inc_by(t.count as f64);
        } else {
            set(&running, vec![kind], t.count as f64);
        }
    }

    let steps = counters(
        &mut registry,
        "task_steps",
        "Task steps done, by task kind and step",
    );
    let step_seconds = counters(
        &mut registry,
        "task_step_seconds",
        "Time the task steps done took, by task kind and step",
    );
    for s in &snapshot.steps {
        let labels = vec![("kind", s.kind.to_string()), ("step", s.step.clone())];
        steps.get_or_create(&labels).inc_by(s.count as f64);
        step_seconds.get_or_create(&labels).inc_by(s.seconds);
    }

    let passes = counters(
        &mut registry,
        "reconcile_passes",
        "The reconciler's passes over every host",
    );
    passes
        .get_or_create(&Vec::new())
        .inc_by(snapshot.reconcile_passes as f64);
    let pass_seconds = counters(
        &mut registry,
        "reconcile_pass_seconds",
        "Time the reconciler's passes took",
    );
    pass_seconds
        .get_or_create(&Vec::new())
        .inc_by(snapshot.reconcile_seconds);
    let last_pass = gauges(
        &mut registry,
        "reconcile_last_pass_seconds",
        "Time the reconciler's last pass took",
    );
    set(&last_pass, Vec::new(), snapshot.reconcile_last_seconds);

    let pool = gauges(
        &mut registry,
        "pool_members",
        "Warm-pool members by size and state",
    );
    for p in &snapshot.pool {
        let labels = vec![("size", p.size.clone()), ("state", p.state.to_string())];
        set(&pool, labels, p.count as f64);
    }

    let reachable = gauges(&mut registry, "host_reachable", "1 while the host answers");
    let on_host = gauges(
        &mut registry,
        "host_instances",
        "Instances placed on the host",
    );
    let host_usage = USAGE.map(|(name, help, _)| {
        let help = format!("{help}: the sum of the host's instances' latest readings");
        gauges(&mut registry, &format!("host_{name}"), &help)
    });
    let host_own = HOST_OWN.map(|(name, help, _)| {
        let help = format!("{help}: its latest 10 s reading");
        gauges(&mut registry, &format!("host_{name}"), &help)
    });
    for h in &snapshot.hosts {
        let labels = vec![("host", h.name.clone())];
        set(&reachable, labels.clone(), f64::from(u8::from(h.reachable)));
        set(&on_host, labels.clone(), h.instances as f64);
        for (family, (_, _, figure)) in host_usage.iter().zip(USAGE) {
            set(family, labels.clone(), figure(&h.usage));
        }
        // A host not read in the last minute has no figures of its own.
        if let Some(own) = &h.own {
            for (family, (_, _, figure)) in host_own.iter().zip(HOST_OWN) {
                set(family, labels.clone(), figure(own));
            }
        }
    }

    let instance_usage = USAGE.map(|(name, help, _)| {
        let help = format!("{help}: the instance's latest 10 s reading");
        gauges(&mut registry, &format!("instance_{name}"), &help)
    });
    for i in &snapshot.instance_usage {
        let labels = instance_labels(&i.labels);
        for (family, (_, _, figure)) in instance_usage.iter().zip(USAGE) {
            set(family, labels.clone(), figure(&i.usage));
        }
    }

    let app_requests = counters(
        &mut registry,
        "app_requests",
        "Requests to the instance's application through the gateway, by status class",
    );
    let app_latency = Family::<Labels, CountedHistogram>::default();
    registry.register(
        "app_response_seconds",
        "Time from a request to its answer's head, through the gateway",
        app_latency.clone(),
    );
    let app_bytes = counters(
        &mut registry,
        "app_body_bytes",
        "Body bytes through the gateway, by direction (in: to the application)",
    );
    for a in &snapshot.app_traffic {
        let labels = instance_labels(&a.labels);
        for (class, count) in &a.requests {
            let mut with_class = labels.clone();
            with_class.push(("class", (*class).to_owned()));
            app_requests
                .get_or_create(&with_class)
                .inc_by(*count as f64);
        }
        let count = a.latency_buckets.iter().map(|(_, n)| n).sum();
        let _ = app_latency.get_or_create(&labels).0.set((
            a.latency_seconds_sum,
            count,
            a.latency_buckets.clone(),
        ));
        for (direction, bytes) in [("in", a.bytes_in), ("out", a.bytes_out)] {
            let mut with_direction = labels.clone();
            with_direction.push(("direction", direction.to_owned()));
            app_bytes
                .get_or_create(&with_direction)
                .inc_by(bytes as f64);
        }
    }

    let mut text = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut text, &registry);
    text
}
