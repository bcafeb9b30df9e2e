//! An instance's use over time, read from (fake) hosts by the engine's
//! usage loop and served per range.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{ADMIN, ADMIN_PASSWORD, TestApp, USER_PASSWORD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_instances_use_is_read_while_it_runs_and_shown_to_whoever_may_use_it_only() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    app.fake_host().lease_every_domain("127.0.0.1");
    let admin = app.api().signed_in(ADMIN, ADMIN_PASSWORD).await;
    let id = admin.deployed("busy").await.id;
    let path = format!("/api/v1/instances/{id}/usage");
    // The fake guest uses half its vCPU, 512 MiB of 1 GiB, writes 4 KiB/s.
    let hour = admin
        .poll(&path, Duration::from_secs(60), |v| {
            v["points"].as_array().is_some_and(|p| !p.is_empty())
        })
        .await;
    assert_eq!(hour["range"], "hour");
    assert_eq!(hour["tier_seconds"], 10);
    let point = &hour["points"][0];
    let cpu = point["cpu_percent"].as_f64().unwrap();
    assert!((40.0..=60.0).contains(&cpu), "{point}");
    assert_eq!(point["memory_used_bytes"], f64::from(1u32 << 29));
    assert_eq!(point["memory_bytes"], f64::from(1u32 << 30));
    let written = point["disk_write_bps"].as_f64().unwrap();
    assert!((3000.0..=5200.0).contains(&written), "{point}");
    assert_eq!(point["at"].as_i64().unwrap() % 10, 0, "{point}");

    // The coarser tiers are current at once.
    for (range, tier) in [("day", 300), ("month", 3600)] {
        let (status, series) = admin.get(&format!("{path}?range={range}")).await;
        assert_eq!(status, 200, "{series}");
        assert_eq!(series["tier_seconds"], tier);
        assert_eq!(series["points"].as_array().unwrap().len(), 1, "{series}");
    }
    for bad in ["?range=year", "?range=", "?since=1"] {
        let (status, body) = admin.get(&format!("{path}{bad}")).await;
        assert_eq!(status, 422, "{bad}: {body}");
    }

    let science = admin.create_department("science", None).await;
    admin
        .create_member("stranger", USER_PASSWORD, science, false)
        .await;
    let stranger = app.api().signed_in("stranger", USER_PASSWORD).await;
    let (status, _) = stranger.get(&path).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_departments_use_of_its_quota_is_recorded_over_time_for_those_who_manage_it_only() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.api().signed_in(ADMIN, ADMIN_PASSWORD).await;
    let science = admin.create_department("science", None).await;
    let arts = admin.create_department("arts", None).await;
    let (status, body) = admin
        .patch(
            &format!("/api/v1/departments/{science}"),
            serde_json::json!({"quota": {"instances": 3, "vcpus": 4}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    admin
        .create_member("dana", USER_PASSWORD, science, true)
        .await;
    admin
        .create_member("sam", USER_PASSWORD, science, false)
        .await;
    admin.create_member("art", USER_PASSWORD, arts, true).await;
    let sam = app.api().signed_in("sam", USER_PASSWORD).await;
    sam.deployed("busy").await;

    let path = format!("/api/v1/departments/{science}/usage");
    let dana = app.api().signed_in("dana", USER_PASSWORD).await;
    let hour = dana
        .poll(&path, Duration::from_secs(30), |v| {
            v["points"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["instances"] == 1.0))
        })
        .await;
    let point = hour["points"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["instances"] == 1.0)
        .unwrap();
    assert_eq!(point["quota_instances"], 3.0, "{point}");
    assert_eq!(point["quota_vcpus"], 4.0, "{point}");
    assert_eq!(point["quota_memory_mib"], Value::Null, "no quota: {point}");
    assert!(point["vcpus"].as_f64().unwrap() >= 1.0, "{point}");
    let (status, day) = admin.get(&format!("{path}?range=day")).await;
    assert_eq!((status, &day["tier_seconds"]), (200, &json!(300)), "{day}");

    // A member, another department's admin: not theirs to see.
    assert_eq!(sam.get(&path).await.0, 403);
    let art = app.api().signed_in("art", USER_PASSWORD).await;
    assert_eq!(art.get(&path).await.0, 404);
    assert_eq!(admin.get("/api/v1/departments/999/usage").await.0, 404);
    assert_eq!(admin.get(&format!("{path}?range=year")).await.0, 422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_hosts_own_cpu_memory_storage_and_guests_network_are_read_and_shown_to_admins_only() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    app.fake_host().lease_every_domain("127.0.0.1");
    let admin = app.api().signed_in(ADMIN, ADMIN_PASSWORD).await;
    admin.deployed("busy").await;
    // Once the instance's rates are read, the host's point sums its
    // network: the fake guest receives 1 KB/s.
    let hosts = admin
        .poll("/api/v1/hosts/usage", Duration::from_secs(60), |v| {
            v[0]["points"]
                .as_array()
                .and_then(|p| p.last())
                .is_some_and(|p| p["net_rx_bps"].as_f64().unwrap_or(0.0) > 0.0)
        })
        .await;
    assert_eq!(hosts.as_array().unwrap().len(), 1, "{hosts}");
    let series = &hosts[0];
    assert_eq!(series["range"], "hour");
    assert_eq!(series["tier_seconds"], 10);
    let point = series["points"].as_array().unwrap().last().unwrap();
    // Two guests run (the instance and the driver's own `test`), each
    // keeping half a CPU of 16 busy and using 1 GiB of 8; the pool holds
    // 50 GiB of 100.
    let cpu = point["cpu_percent"].as_f64().unwrap();
    assert!((5.0..=7.5).contains(&cpu), "{point}");
    assert_eq!(point["memory_used_bytes"], (2u64 << 30) as f64, "{point}");
    assert_eq!(point["memory_bytes"], (8u64 << 30) as f64, "{point}");
    assert_eq!(point["storage_used_bytes"], (50u64 << 30) as f64, "{point}");
    assert_eq!(point["storage_bytes"], (100u64 << 30) as f64, "{point}");
    let received = point["net_rx_bps"].as_f64().unwrap();
    assert!((700.0..=1300.0).contains(&received), "{point}");
    assert_eq!(point["at"].as_i64().unwrap() % 10, 0, "{point}");

    // The coarser tiers are current at once.
    for (range, tier) in [("day", 300), ("month", 3600)] {
        let (status, hosts) = admin
            .get(&format!("/api/v1/hosts/usage?range={range}"))
            .await;
        assert_eq!(status, 200, "{hosts}");
        assert_eq!(hosts[0]["tier_seconds"], tier);
        assert_eq!(hosts[0]["points"].as_array().unwrap().len(), 1, "{hosts}");
    }
    let (status, body) = admin.get("/api/v1/hosts/usage?range=year").await;
    assert_eq!(status, 422, "{body}");

    let science = admin.create_department("science", None).await;
    admin
        .create_member("ann", USER_PASSWORD, science, true)
        .await;
    let ann = app.api().signed_in("ann", USER_PASSWORD).await;
    let (status, body) = ann.get("/api/v1/hosts/usage").await;
    assert_eq!(
        status, 403,
        "a department's admin is no appliance admin: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libvirts_test_driver_answers_a_hosts_own_figures_from_its_node_and_pool() {
    let app = TestApp::builder().set_up().start().await;
    let admin = app.api().signed_in(ADMIN, ADMIN_PASSWORD).await;
    // A first reading gives no rate; the second a point.
    let hosts = admin
        .poll("/api/v1/hosts/usage", Duration::from_secs(60), |v| {
            v[0]["points"].as_array().is_some_and(|p| !p.is_empty())
        })
        .await;
    let point = &hosts[0]["points"][0];
    // The driver's node: 3 GiB, and CPU counters that stand still.
    assert_eq!(point["memory_bytes"], (3u64 << 30) as f64, "{point}");
    assert_eq!(point["cpu_percent"], 0.0, "{point}");
    // Its own domain `test` runs, with 2 GiB.
    assert_eq!(point["memory_used_bytes"], (2u64 << 30) as f64, "{point}");
    assert_eq!(
        (&point["storage_used_bytes"], &point["storage_bytes"]),
        (&json!(0.0), &json!(0.0)),
        "no pool before the first deploy: {point}"
    );
}
