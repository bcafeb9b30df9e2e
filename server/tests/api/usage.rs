//! An instance's use over time, read from (fake) hosts by the engine's
//! usage loop and served per range.

use std::time::Duration;

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
