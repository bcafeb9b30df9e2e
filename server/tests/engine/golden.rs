//! The golden image on a host is read back and hashed after its upload:
//! a copy the host damaged is removed and the deploy fails saying so,
//! and the next deploy uploads it anew.

use super::common::{TestApp, started_task};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_golden_image_damaged_on_upload_is_removed_and_fails_the_deploy_until_it_arrives_intact()
{
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let host = app.fake_host();
    let pool = app.storage_pool();
    host.corrupt_uploads_to("golden-testguest-");

    let (status, accepted) = admin.deploy("damaged").await;
    assert_eq!(status, 202, "{accepted}");
    let task = admin.wait_task(started_task(&accepted)).await;
    assert_eq!(task["state"], "failed", "{task}");
    let error = task["error"].as_str().unwrap();
    assert!(
        error.contains("image arrived damaged on the host"),
        "the reason says so: {task}"
    );
    let golden_disks = |host: &super::common::fake_host::FakeHost| -> Vec<String> {
        host.volume_names(&pool)
            .into_iter()
            .filter(|v| v.starts_with("golden-testguest-") && v.ends_with(".qcow2"))
            .collect()
    };
    assert!(
        golden_disks(&host).is_empty(),
        "the damaged copy is removed"
    );
    assert!(
        !host
            .volume_names(&pool)
            .iter()
            .any(|v| v.ends_with(".complete")),
        "and never marked complete"
    );

    host.stop_corrupting();
    let (status, accepted) = admin.deploy("intact").await;
    assert_eq!(status, 202, "{accepted}");
    let task = admin.wait_task(started_task(&accepted)).await;
    assert_eq!(task["state"], "succeeded", "{task}");
    assert_eq!(golden_disks(&host).len(), 1, "uploaded anew, and kept");
    assert_eq!(
        host.calls("volume_sha256"),
        2,
        "each upload is checked once"
    );

    // Once complete it is used as it is: neither uploaded nor read again.
    let (_, accepted) = admin.deploy("third").await;
    let task = admin.wait_task(started_task(&accepted)).await;
    assert_eq!(task["state"], "succeeded", "{task}");
    assert_eq!(host.calls("volume_sha256"), 2);
}
