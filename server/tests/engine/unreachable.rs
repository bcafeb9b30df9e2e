//! A host that stops answering: its instances show as "host unreachable"
//! (their last state kept, never failed or deleted), actions on them are
//! refused with 409, and when it answers again the reconciler brings the
//! store in line with what the host holds.

use std::time::Duration;

use app::model::Power;
use serde_json::Value;

use super::common::{Accepted, TestApp};

/// Within ten seconds: the reconciler looks every 100 ms.
const SOON: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_stops_answering_keeps_its_instances_as_host_unreachable_and_its_return_reconciles_them()
 {
    let app = TestApp::builder()
        .fake_hosts()
        .reconcile_every(Duration::from_millis(100))
        .set_up()
        .start()
        .await;
    let admin = app.admin().await;
    let Accepted { id, task_id } = admin.deployed("web").await;
    assert_eq!(admin.wait_task(task_id).await["state"], "succeeded");
    let answering = admin.wait_state(id, "running").await;
    assert!(answering["host_unreachable_since"].is_null(), "{answering}");
    let (_, hosts) = admin.get("/api/v1/hosts").await;
    let free = hosts[0]["free_memory_mib"].as_u64().unwrap();
    assert!(free < 8192, "the instance's memory is taken: {hosts}");
    let uuid = app.instance_uuid(id).await;
    let host = app.fake_host();

    host.set_down(true);
    let unreachable = admin
        .wait_instance(id, SOON, |i| i["host_unreachable_since"].is_string())
        .await;
    // Passes while it is down leave the instance as last seen.
    let looks = host.calls("facts");
    admin
        .poll("/api/v1/instances", SOON, |_| {
            host.calls("facts") >= looks + 3
        })
        .await;
    let (_, kept) = admin.instance(id).await;
    for seen in [&unreachable, &kept] {
        assert_eq!(seen["state"], "running", "{seen}");
        assert!(seen["error"].is_null(), "{seen}");
    }
    let (_, list) = admin.instances().await;
    let row = &list[0];
    assert!(row["host_unreachable_since"].is_string(), "{list}");

    let (_, hosts) = admin.get("/api/v1/hosts").await;
    assert_eq!(
        hosts[0]["unreachable_since"],
        unreachable["host_unreachable_since"]
    );
    assert_eq!(hosts[0]["instances"], 1, "{hosts}");
    assert_eq!(hosts[0]["probe"]["connected"], false, "{hosts}");
    let (status, dashboard) = admin.post_empty("/fn/dashboard").await;
    assert_eq!(status, 200, "{dashboard}");
    assert!(
        dashboard["hosts"][0]["unreachable_since"].is_string(),
        "{dashboard}"
    );

    // The portal says so: a notice on the dashboard, a badge on the row,
    // a banner on the instance's page.
    let home = admin.html("/").await;
    assert!(
        home.contains("Host vm has not answered since")
            && home.contains("1 instance on it is unreachable"),
        "{home}"
    );
    assert!(admin.html("/instances").await.contains("host unreachable"));
    let page = admin.html(&format!("/instances/{id}")).await;
    assert!(page.contains(r#"id="host-unreachable""#), "{page}");

    // Actions are refused at once, saying why, rather than waiting.
    for action in ["start", "shutdown", "reboot", "poweroff"] {
        let (status, err) = admin.act(id, action).await;
        assert_eq!(status, 409, "{action}: {err}");
        assert!(message(&err).contains("unreachable"), "{err}");
    }
    let (status, err) = admin.delete_instance(id).await;
    assert_eq!(status, 409, "{err}");
    let (status, err) = admin
        .post(
            &format!("/api/v1/instances/{id}/snapshots"),
            serde_json::json!({"name": "s1"}),
        )
        .await;
    assert_eq!(status, 409, "{err}");

    // Meanwhile someone on the host shut the guest off; when the host is
    // back the store says so, and nothing was lost.
    host.power_domain(&uuid, Power::ShutOff);
    host.set_down(false);
    let back = admin
        .wait_instance(id, SOON, |i| {
            i["host_unreachable_since"].is_null() && i["state"] == "shut_off"
        })
        .await;
    assert!(back["error"].is_null(), "{back}");
    assert_eq!(host.dpe_uuids(), vec![uuid], "the domain is still there");
    let (_, hosts) = admin.get("/api/v1/hosts").await;
    assert!(hosts[0]["unreachable_since"].is_null(), "{hosts}");
    let (status, started) = admin.act(id, "start").await;
    assert_eq!(status, 202, "{started}");
}

fn message(err: &Value) -> &str {
    err["message"].as_str().unwrap_or_default()
}
