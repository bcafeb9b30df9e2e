//! The outside zone: fixed addresses from a pool on a bridge, configured
//! by admins. The pool is on loopback: the reconciler health-checks
//! running outside instances at their address, and on this machine
//! traffic may go nowhere else (the fake hosts run no guest).

use app::model::Role;
use serde_json::{Value, json};

use crate::common::{Accepted, Api, TestApp};

/// A deploy of `name` into the outside zone.
fn outside(name: &str) -> Value {
    json!({"name": name, "size": "tiny", "zone": "outside", "params": {"title": "LAN wiki"}})
}

/// Outside-zone settings with the two addresses 127.0.0.10 and .11.
fn zone() -> Value {
    json!({"bridge": "br-lan", "first_address": "127.0.0.10",
        "last_address": "127.0.0.11", "prefix_len": 8, "gateway": "127.0.0.1",
        "dns": ["127.0.0.53"]})
}

/// An app with the outside zone set up by the admin, and the admin.
async fn app_with_zone() -> (TestApp, Api) {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;
    let (status, zones) = admin.put("/api/v1/zones/outside", zone()).await;
    assert_eq!(status, 200, "{zones}");
    assert_eq!(zones["outside"]["free"], 2);
    (app, admin)
}

/// Deploys `name` outside and waits for it: its id and address.
async fn deployed_outside(admin: &Api, name: &str) -> (i64, Value) {
    let (status, accepted) = admin.deploy_with(outside(name)).await;
    assert_eq!(status, 202, "{accepted}");
    let Accepted { id, task_id } = Accepted::of(&accepted);
    let task = admin.wait_task(task_id).await;
    assert_eq!(task["state"], "succeeded", "{task}");
    let (_, inst) = admin.instance(id).await;
    (id, inst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outside_zone_is_refused_until_an_admin_configures_it_with_valid_settings() {
    let app = TestApp::builder().fake_hosts().set_up().start().await;
    let admin = app.admin().await;

    // Not configured yet: the zone is the field at fault.
    let (status, err) = admin.deploy_with(outside("lan-0")).await;
    assert_eq!(
        (status, err["field"].as_str()),
        (422, Some("zone")),
        "{err}"
    );

    // Users may read the zones but not configure them.
    let bob = app.user_client("bob", Role::User).await;
    assert_eq!(bob.put("/api/v1/zones/outside", zone()).await.0, 403);
    let (status, zones) = bob.get("/api/v1/zones").await;
    assert_eq!((status, &zones["outside"]), (200, &Value::Null), "{zones}");

    // Bad settings name their field; unknown fields are refused.
    for (body, field) in [
        (
            json!({"bridge": "br<0>", "first_address": "127.0.0.10", "last_address": "127.0.0.11", "prefix_len": 8}),
            Some("bridge"),
        ),
        (
            json!({"bridge": "br0", "first_address": "127.0.0.10", "last_address": "10.0.0.1", "prefix_len": 8}),
            Some("last_address"),
        ),
        (
            json!({"bridge": "br0", "first_address": "127.0.0.10", "last_address": "127.0.0.11", "prefix_len": 8, "gateway": "127.0.0.11"}),
            Some("gateway"),
        ),
        (
            json!({"bridge": "br0", "first_address": "127.0.0.10", "last_address": "127.0.0.11", "prefix_len": -1}),
            Some("body"),
        ),
        (
            json!({"bridge": "br0", "first_address": "127.0.0.10", "last_address": "127.0.0.11", "prefix_len": 8, "vlan": 5}),
            Some("body"),
        ),
    ] {
        let (status, err) = admin.put("/api/v1/zones/outside", body.clone()).await;
        assert_eq!(
            (status, err["field"].as_str()),
            (422, field),
            "{body}: {err}"
        );
    }

    let (status, zones) = admin.put("/api/v1/zones/outside", zone()).await;
    assert_eq!(status, 200, "{zones}");
    assert_eq!(zones["outside"]["free"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outside_zone_hands_out_fixed_addresses_from_its_pool() {
    let (app, admin) = app_with_zone().await;

    // Two deploys take the two addresses, lowest first; a third is refused
    // with the pool named, and nothing of it is kept.
    let mut ids = Vec::new();
    for (name, want) in [("lan-1", "127.0.0.10"), ("lan-2", "127.0.0.11")] {
        let (id, inst) = deployed_outside(&admin, name).await;
        assert_eq!(
            (inst["ip"].as_str(), inst["zone"].as_str()),
            (Some(want), Some("outside")),
            "{inst}"
        );
        ids.push(id);
    }
    let (status, err) = admin.deploy_with(outside("lan-3")).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (409, Some("conflict")),
        "{err}"
    );
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("127.0.0.10 to 127.0.0.11"),
        "{err}"
    );
    let (_, zones) = admin.get("/api/v1/zones").await;
    assert_eq!(
        (
            zones["outside"]["in_use"].as_u64(),
            zones["outside"]["free"].as_u64()
        ),
        (Some(2), Some(0))
    );

    // The domain's NIC is on the bridge, with no libvirt network.
    let uuid = app.instance_uuid(ids[0]).await;
    let xml = app.fake_host().domain_xml(&uuid).unwrap();
    assert!(
        xml.contains("<interface type='bridge'>") || xml.contains("<interface type=\"bridge\">"),
        "{xml}"
    );
    assert!(xml.contains("br-lan"), "{xml}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_outside_instance_frees_its_address_and_an_unused_zone_can_go() {
    let (_app, admin) = app_with_zone().await;
    let (first, _) = deployed_outside(&admin, "lan-1").await;
    let (second, _) = deployed_outside(&admin, "lan-2").await;

    // The zone cannot go while instances use it; deleting one frees its
    // address for the next deploy.
    assert_eq!(admin.delete("/api/v1/zones/outside").await.0, 409);
    admin.remove(first).await;
    let (status, accepted) = admin.deploy_with(outside("lan-4")).await;
    assert_eq!(status, 202, "{accepted}");
    let Accepted { id, task_id } = Accepted::of(&accepted);
    let (_, inst) = admin.instance(id).await;
    assert_eq!(inst["ip"], "127.0.0.10", "{inst}");
    admin.wait_task(task_id).await;
    for id in [second, id] {
        admin.remove(id).await;
    }
    let (status, _) = admin.delete("/api/v1/zones/outside").await;
    assert_eq!(status, 204);
}
