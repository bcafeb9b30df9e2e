//! `/metrics`: read with a metrics-scoped token (or an admin's full one),
//! refused to everyone else; a metrics token opens nothing else; the
//! exposition is OpenMetrics that a real Prometheus scrapes and queries.

use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::json;

use crate::common::prometheus::Prometheus;
use crate::common::{ADMIN, ADMIN_PASSWORD, Api, TestApp, USER_PASSWORD};

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `GET /metrics` with `token` (none: anonymous): the status, the content
/// type and the text.
pub(crate) async fn scrape(app: &TestApp, token: Option<&str>) -> (u16, String, String) {
    let mut request = app.client().get(app.url("/metrics"));
    if let Some(token) = token {
        request = request.header(AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

/// A new token of `client`'s account with `scope`: its secret.
pub(crate) async fn token(client: &Api, name: &str, scope: &str) -> String {
    let (status, body) = client
        .post("/api/v1/tokens", json!({"name": name, "scope": scope}))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["scope"], scope, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// The sample lines of `text` for the metric `name` (exactly, not a
/// longer name that starts with it).
pub(crate) fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_token_reads_the_metrics_and_is_refused_everywhere_else() {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    let secret = token(&admin, "prometheus", "metrics").await;

    let (status, content_type, text) = scrape(&app, Some(&secret)).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(content_type, OPENMETRICS);
    assert!(text.ends_with("# EOF\n"), "{text}");

    let scoped = Api::new(app.client(), app.url("")).bearer(&secret);
    for (method, path) in [
        ("GET", "/api/v1/me"),
        ("GET", "/api/v1/instances"),
        ("GET", "/api/v1/tokens"),
        ("GET", "/api/v1/health"),
        ("POST", "/api/v1/tokens"),
    ] {
        let body = (method == "POST").then(|| json!({"name": "more", "scope": "full"}));
        let (status, answer) = scoped.call(method.parse().unwrap(), path, body).await;
        assert_eq!(status, 403, "{method} {path}: {answer}");
        assert_eq!(answer["error"], "metrics_only", "{method} {path}: {answer}");
        assert!(
            answer["message"].as_str().unwrap().contains("/metrics"),
            "the refusal says what the token is for: {answer}"
        );
    }
    // Nor does it open a page.
    let page = app
        .client()
        .get(app.url("/"))
        .header(AUTHORIZATION, format!("Bearer {secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 403);

    // Listed with its scope; its creation and its refusals are audited.
    let (_, list) = admin.get("/api/v1/tokens").await;
    assert_eq!(list[0]["scope"], "metrics", "{list}");
    let (_, audit) = admin.get("/api/v1/audit").await;
    let audit = audit.to_string();
    assert!(audit.contains("(metrics scope)"), "{audit}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_are_refused_without_a_token_and_to_anyone_but_appliance_admins() {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.admin().await;
    let (status, _, _) = scrape(&app, None).await;
    assert_eq!(status, 401);
    let (status, _, _) = scrape(&app, Some("dpe_forged")).await;
    assert_eq!(status, 401);

    // An admin's full token reads them too.
    let full = token(&admin, "everything", "full").await;
    let (status, _, _) = scrape(&app, Some(&full)).await;
    assert_eq!(status, 200);

    let science = admin.create_department("science", None).await;
    admin
        .create_member("ann", USER_PASSWORD, science, true)
        .await;
    let ann = app.api().signed_in("ann", USER_PASSWORD).await;
    let anns = token(&ann, "hers", "full").await;
    let (status, _, _) = scrape(&app, Some(&anns)).await;
    assert_eq!(status, 403, "a department admin is no appliance admin");
    let (status, body) = ann
        .post("/api/v1/tokens", json!({"name": "p", "scope": "metrics"}))
        .await;
    assert_eq!(status, 403, "{body}");
    // Without a field, a token is full, as before scopes.
    let (status, body) = ann.post("/api/v1/tokens", json!({"name": "plain"})).await;
    assert_eq!((status, &body["scope"]), (201, &json!("full")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exposition_is_openmetrics_and_labels_an_instance_by_name_department_size_and_host() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    app.fake_host().lease_every_domain("127.0.0.1");
    let admin = app.api().signed_in(ADMIN, ADMIN_PASSWORD).await;
    let science = admin.create_department("science", None).await;
    let ann_id = admin
        .create_member("ann", USER_PASSWORD, science, false)
        .await;
    let (status, body) = admin
        .update_member(ann_id, json!({"may_deploy": true}))
        .await;
    assert_eq!(status, 200, "{body}");
    let ann = app.api().signed_in("ann", USER_PASSWORD).await;
    let id = ann.deployed("busy").await.id;
    ann.wait_state(id, "running").await;
    let (_, hosts) = admin.get("/api/v1/hosts").await;
    let host = hosts[0]["name"].as_str().unwrap().to_owned();
    let secret = token(&admin, "prometheus", "metrics").await;

    // The usage loop reads every 10 s.
    let start = Instant::now();
    let text = loop {
        let (status, _, text) = scrape(&app, Some(&secret)).await;
        assert_eq!(status, 200, "{text}");
        if !samples(&text, "dpe_instance_memory_bytes").is_empty() {
            break text;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{text}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    // Every line is metadata, a sample or the closing EOF, once, last.
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"));
    for line in &lines[..lines.len() - 1] {
        let metadata = ["# HELP dpe_", "# TYPE dpe_", "# UNIT dpe_"]
            .iter()
            .any(|p| line.starts_with(p));
        let sample = line.starts_with("dpe_")
            && line
                .rsplit(' ')
                .next()
                .is_some_and(|v| v.parse::<f64>().is_ok());
        assert!(metadata || sample, "not OpenMetrics: {line:?}\n{text}");
    }
    assert!(text.contains("# TYPE dpe_tasks_finished counter"), "{text}");
    assert!(
        text.contains("# TYPE dpe_instance_cpu_percent gauge"),
        "{text}"
    );

    // The uuid is the libvirt domain's, which the API does not show.
    let labelled = |line: &&str| {
        line.strip_prefix("dpe_instance_memory_bytes{name=\"busy\",uuid=\"")
            .and_then(|rest| rest.split_once('"'))
            .is_some_and(|(uuid, rest)| {
                uuid.len() == 36
                    && rest
                        == format!(
                            ",department=\"science\",size=\"tiny\",host=\"{host}\"}} 1073741824.0"
                        )
            })
    };
    assert!(
        samples(&text, "dpe_instance_memory_bytes")
            .iter()
            .any(labelled),
        "{text}"
    );
    let used = format!("dpe_host_memory_used_bytes{{host=\"{host}\"}} 536870912.0");
    assert!(text.lines().any(|l| l == used), "{used}\n{text}");
    // The host's own figures: two guests run (the instance and the fake
    // driver's `test`), 1 GiB each of 8, in a pool of 100 GiB.
    let own = |name: &str, value: &str| format!("dpe_host_{name}{{host=\"{host}\"}} {value}");
    for line in [
        own("system_memory_used_bytes", "2147483648.0"),
        own("system_memory_bytes", "8589934592.0"),
        own("storage_used_bytes", "53687091200.0"),
        own("storage_bytes", "107374182400.0"),
    ] {
        assert!(text.lines().any(|l| l == line), "{line}\n{text}");
    }
    assert!(
        text.contains("# TYPE dpe_host_system_cpu_percent gauge"),
        "{text}"
    );
    assert_eq!(
        samples(&text, "dpe_host_system_cpu_percent").len(),
        1,
        "{text}"
    );
    assert!(
        text.contains("dpe_tasks_finished_total{kind=\"deploy\",state=\"succeeded\"} 1"),
        "{text}"
    );
    assert!(text.contains("dpe_instances{status=\"ready\"} 1"), "{text}");
    assert!(
        text.contains("dpe_http_requests_total{method=\"write\",status=\"2xx\"}"),
        "{text}"
    );
    // The reconciler has passed (the deploy waited on it) and says how long.
    let value = |name: &str| -> f64 {
        match samples(&text, name)[..] {
            [line] => line.rsplit(' ').next().unwrap().parse().unwrap(),
            _ => panic!("one {name} expected\n{text}"),
        }
    };
    assert!(value("dpe_reconcile_passes_total") >= 1.0, "{text}");
    let (total, last) = (
        value("dpe_reconcile_pass_seconds_total"),
        value("dpe_reconcile_last_pass_seconds"),
    );
    assert!(last > 0.0 && total >= last, "{total} {last}");
    let store_size = samples(&text, "dpe_store_size_bytes");
    assert!(
        store_size.len() == 1 && !store_size[0].ends_with(" 0.0"),
        "{store_size:?}"
    );
    assert!(
        !samples(&text, "dpe_task_step_seconds_total").is_empty(),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_metrics_with_a_metrics_token_and_answers_a_query() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    app.fake_host().lease_every_domain("127.0.0.1");
    let admin = app.admin().await;
    let id = admin.deployed("busy").await.id;
    admin.wait_state(id, "running").await;
    let secret = token(&admin, "prometheus", "metrics").await;
    let target = app
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();

    let prometheus = Prometheus::scraping(&target, &secret);
    let result = prometheus
        .query_until_present(
            "dpe_instance_memory_bytes{name=\"busy\",size=\"tiny\"}",
            Duration::from_secs(60),
        )
        .await;
    let series = &result[0];
    assert_eq!(series["metric"]["job"], "dpe", "{series}");
    assert_eq!(series["metric"]["instance"], target.as_str(), "{series}");
    assert_eq!(series["value"][1], "1073741824", "{series}");
    let up = prometheus
        .query_until_present("up{job=\"dpe\"}", Duration::from_secs(10))
        .await;
    assert_eq!(up[0]["value"][1], "1", "every scrape succeeds: {up:?}");
}
