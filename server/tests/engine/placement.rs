//! Placement across hosts that run guests differently: a host with KVM
//! takes a deploy whenever it has room, however much more memory an
//! emulating (TCG) host has free; the TCG host takes what KVM cannot.

use app::model::Acceleration;

use super::common::{Accepted, Api, TestApp};

const TCG: &str = "test:///tcg";

/// Deploys `name` and waits until it runs: the name of its host.
async fn placed(admin: &Api, name: &str) -> String {
    let Accepted { id, task_id } = admin.deployed(name).await;
    assert_eq!(admin.wait_task(task_id).await["state"], "succeeded");
    let inst = admin.wait_state(id, "running").await;
    inst["host"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kvm_host_with_room_wins_over_a_tcg_host_with_more_free_memory_and_loses_once_full() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    // Room for one instance of the default size (256 MiB) on KVM; twenty
    // times that on the emulating host, added later (so not the older).
    let kvm = app.fake_host();
    kvm.set_acceleration(Acceleration::Kvm);
    kvm.set_capacity(16, 400);
    let (_, tcg) = app.add_fake_host("tcg", TCG).await;
    tcg.set_acceleration(Acceleration::Tcg);
    tcg.set_capacity(16, 8192);

    assert_eq!(placed(&admin, "first").await, "vm", "KVM has room");
    assert_eq!(
        placed(&admin, "second").await,
        "tcg",
        "KVM is full: the emulating host takes it"
    );
    let (_, hosts) = admin.get("/api/v1/hosts").await;
    assert_eq!(hosts[0]["instances"], 1, "{hosts}");
    assert_eq!(hosts[1]["instances"], 1, "{hosts}");
}
