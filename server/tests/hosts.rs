//! Remote hosts on real libvirtds over real transports: each lab host is a
//! libvirtd (and an sshd) in a network and mount namespace of its own,
//! joined to the test's namespace by a veth pair (`scripts/hosts-lab`).
//! Run inside `scripts/sandbox`, like the QEMU tests; `scripts/test` does.

// A test reports failure by panicking; its helpers may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Api, TestApp};
use serde_json::{Value, json};
use server::engine::hypervisor::Hypervisor as _;

/// The lab hosts of one test, stopped when it ends (pass or fail).
struct Lab {
    dir: tempfile::TempDir,
    started: Vec<u8>,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/hosts-lab")
}

fn run_lab(args: &[&str]) -> std::process::Output {
    Command::new(script()).args(args).output().unwrap()
}

impl Lab {
    fn new() -> Lab {
        Lab {
            dir: tempfile::tempdir().unwrap(),
            started: Vec::new(),
        }
    }

    fn host_dir(&self, n: u8) -> PathBuf {
        self.dir.path().join(format!("host{n}"))
    }

    fn address(n: u8) -> String {
        format!("198.18.{n}.2")
    }

    /// Installs what dpe issued and showed: the TLS files of `bundle`
    /// (by their names under /etc/pki) and dpe's SSH key.
    fn install(&self, n: u8, bundle: &Value, ssh_public_key: &str) {
        let pki = self.host_dir(n).join("pki");
        std::fs::create_dir_all(&pki).unwrap();
        for file in bundle["files"].as_array().unwrap() {
            let name = Path::new(file["path"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_owned();
            std::fs::write(pki.join(name), file["contents"].as_str().unwrap()).unwrap();
        }
        std::fs::write(
            self.host_dir(n).join("authorized_keys"),
            format!("{ssh_public_key}\n"),
        )
        .unwrap();
    }

    fn start(&mut self, n: u8) {
        let dir = self.host_dir(n);
        let out = run_lab(&["start", dir.to_str().unwrap(), &n.to_string()]);
        assert!(
            out.status.success(),
            "lab host {n}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.started.push(n);
    }

    /// The host's SSH public key, as its admin would read it.
    fn host_key(&self, n: u8) -> String {
        std::fs::read_to_string(self.host_dir(n).join("ssh/ssh_host_ed25519_key.pub")).unwrap()
    }

    fn storage_dir(&self, n: u8) -> String {
        self.host_dir(n).join("storage").display().to_string()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for n in &self.started {
            let dir = self.host_dir(*n);
            run_lab(&["stop", dir.to_str().unwrap(), &n.to_string()]);
        }
    }
}

/// dpe's credentials and a server certificate for host `n`, installed.
async fn prepare(api: &Api, lab: &Lab, n: u8) {
    let (status, credentials) = api.get("/api/v1/hosts/credentials").await;
    assert_eq!(status, 200, "{credentials}");
    let (status, bundle) = api
        .post(
            "/api/v1/hosts/server-certificate",
            json!({"host": Lab::address(n)}),
        )
        .await;
    assert_eq!(status, 201, "{bundle}");
    lab.install(n, &bundle, credentials["ssh_public_key"].as_str().unwrap());
}

fn another_key() -> String {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::read_to_string(key.with_extension("pub")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs scripts/sandbox; scripts/test runs it"]
async fn remote_hosts_join_over_tls_and_ssh_with_dpes_own_credentials_and_a_wrong_host_key_is_refused()
 {
    let app = TestApp::builder().set_up().start().await;
    let api = app.admin().await;
    let mut lab = Lab::new();
    for n in [2, 3] {
        prepare(&api, &lab, n).await;
        lab.start(n);
    }

    // Host 2 over TLS: libvirt checks its certificate against dpe's CA
    // and the host checks dpe's client certificate.
    let (status, host2) = api
        .post(
            "/api/v1/hosts",
            json!({"uri": "qemu+tls://198.18.2.2/system", "storage_dir": lab.storage_dir(2),
                   "network": "default"}),
        )
        .await;
    assert_eq!(status, 201, "{host2}");
    assert_eq!(host2["probe"]["connected"], true, "{host2}");
    assert_eq!(host2["probe"]["hypervisor"], "QEMU", "{host2}");

    // Host 3 over SSH: no pin, a wrong pin, then the host's own key.
    let ssh = |key: Option<String>| {
        json!({"uri": "qemu+ssh://root@198.18.3.2/system", "storage_dir": lab.storage_dir(3),
               "network": "default", "ssh_host_key": key})
    };
    let (status, body) = api.post("/api/v1/hosts", ssh(None)).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("ssh_host_key")),
        "{body}"
    );
    let (status, body) = api.post("/api/v1/hosts", ssh(Some(another_key()))).await;
    assert_eq!(
        (status, body["field"].as_str()),
        (422, Some("ssh_host_key")),
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("host key"),
        "{body}"
    );
    let (status, host3) = api.post("/api/v1/hosts", ssh(Some(lab.host_key(3)))).await;
    assert_eq!(status, 201, "{host3}");
    assert_eq!(host3["probe"]["connected"], true, "{host3}");

    let (_, hosts) = api.get("/api/v1/hosts").await;
    let uris: Vec<&str> = hosts
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["probe"]["uri"].as_str().unwrap())
        .collect();
    assert_eq!(uris.len(), 3, "{hosts}");
    let (_, audit) = api.get("/api/v1/audit?action=host.add").await;
    assert!(audit.to_string().contains("SHA256:"), "{audit}");
}

fn guest_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("DPE_TEST_GUEST_DIR").expect("DPE_TEST_GUEST_DIR: run through scripts/test"),
    )
}

/// Adds lab host `n` over TLS (even) or SSH (odd): its name.
async fn add_lab_host(api: &Api, lab: &Lab, n: u8) -> String {
    let (uri, key) = match n % 2 {
        0 => (format!("qemu+tls://{}/system", Lab::address(n)), None),
        _ => (
            format!("qemu+ssh://root@{}/system", Lab::address(n)),
            Some(lab.host_key(n)),
        ),
    };
    let (status, host) = api
        .post(
            "/api/v1/hosts",
            json!({"uri": uri, "storage_dir": lab.storage_dir(n), "network": "default",
                   "ssh_host_key": key, "name": format!("lab{n}")}),
        )
        .await;
    assert_eq!(status, 201, "{host}");
    host["name"].as_str().unwrap().to_owned()
}

/// The guests dpe defined on lab host `n`, as its own libvirtd lists them.
fn lab_domains(lab: &Lab, n: u8) -> String {
    let dir = lab.host_dir(n);
    let out = run_lab(&[
        "exec",
        dir.to_str().unwrap(),
        &n.to_string(),
        "virsh",
        "-q",
        "-c",
        "qemu:///system",
        "list",
        "--all",
        "--uuid",
    ]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn host_connected(api: &Api, name: &str) -> bool {
    let (_, hosts) = api.get("/api/v1/hosts").await;
    hosts
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == name)
        .unwrap()["probe"]["connected"]
        == true
}

async fn wait_host(api: &Api, name: &str, connected: bool) {
    let start = std::time::Instant::now();
    while host_connected(api, name).await != connected {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(90),
            "{name} never became connected={connected}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    eprintln!(
        "{name} seen connected={connected} after {:.1} s",
        start.elapsed().as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs scripts/sandbox; scripts/test runs it"]
async fn deploys_spread_over_three_real_hosts_and_a_host_that_stops_answering_loses_nothing() {
    use std::time::Duration;
    let app = TestApp::builder()
        .host_uri("qemu:///system")
        .image_dir(guest_dir())
        .set_up()
        .start()
        .await;
    let api = app.admin().await;
    let mut lab = Lab::new();
    for n in [2, 3] {
        prepare(&api, &lab, n).await;
        lab.start(n);
        add_lab_host(&api, &lab, n).await;
    }

    // Three hosts of the same size: each deploy goes where the most memory
    // is free, so one lands on each, oldest host first.
    let mut placed = Vec::new();
    for name in ["spread-1", "spread-2", "spread-3"] {
        let (status, accepted) = api
            .deploy_with(json!({"name": name, "size": "tiny", "params": {"title": "T"}}))
            .await;
        assert_eq!(status, 202, "{accepted}");
        let common::Accepted { id, task_id } = common::Accepted::of(&accepted);
        let task = api
            .patient(Duration::from_secs(240))
            .wait_task(task_id)
            .await;
        eprintln!("deployed {name}: {}", task["state"]);
        assert_eq!(task["state"], "succeeded", "{task}");
        let (_, instance) = api.get(&format!("/api/v1/instances/{id}")).await;
        placed.push((id, instance["host"].as_str().unwrap().to_owned()));
    }
    let hosts: Vec<&str> = placed.iter().map(|(_, h)| h.as_str()).collect();
    assert_eq!(hosts[1..], ["lab2", "lab3"], "{placed:?}");
    let (on_lab2, _) = placed[1];
    let uuid = app.instance_uuid(on_lab2).await;
    assert!(lab_domains(&lab, 2).contains(&uuid));

    // Host 2 stops answering: its instance stays, neither failed nor gone.
    let dir = lab.host_dir(2);
    assert!(
        run_lab(&["cut", dir.to_str().unwrap(), "2"])
            .status
            .success()
    );
    eprintln!("cut lab2");
    wait_host(&api, "lab2", false).await;
    let (status, instance) = api.get(&format!("/api/v1/instances/{on_lab2}")).await;
    assert_eq!(status, 200, "{instance}");
    eprintln!(
        "while lab2 is down its instance reads {}",
        instance["state"]
    );
    assert_ne!(instance["state"], "failed", "{instance}");
    assert_ne!(instance["state"], "deleting", "{instance}");
    assert!(
        instance["host_unreachable_since"].is_string(),
        "shown as host unreachable: {instance}"
    );
    let (status, refused) = api.act(on_lab2, "shutdown").await;
    assert_eq!(status, 409, "{refused}");

    // Back: the reconciler sees the guest running there again.
    assert!(
        run_lab(&["heal", dir.to_str().unwrap(), "2"])
            .status
            .success()
    );
    eprintln!("healed lab2");
    wait_host(&api, "lab2", true).await;
    api.wait_instance(on_lab2, Duration::from_secs(60), |i| {
        i["state"] == "running" && i["host_unreachable_since"].is_null()
    })
    .await;
    assert!(lab_domains(&lab, 2).contains(&uuid));
    let (_, list) = api.get("/api/v1/instances").await;
    assert_eq!(list.as_array().map(Vec::len), Some(3), "{list}");

    // Deleted, each from its own host: nothing is left on any of them (the
    // sandbox's libvirtd serves the next tests).
    let patient = api.patient(Duration::from_secs(120));
    for (id, _) in &placed {
        patient.succeeds(api.delete_instance(*id).await).await;
    }
    for n in [2, 3] {
        assert_eq!(lab_domains(&lab, n).trim(), "", "lab{n}");
    }
    let left = server::engine::libvirt::LibvirtHost::connect("qemu:///system")
        .unwrap()
        .dpe_domains()
        .unwrap();
    assert!(left.is_empty(), "{}", left.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs scripts/sandbox; scripts/test runs it"]
async fn a_running_guest_moves_live_from_a_tls_host_to_an_ssh_host_and_back_stopped() {
    use std::time::Duration;
    let app = TestApp::builder()
        .host_uri("qemu:///system")
        .image_dir(guest_dir())
        .set_up()
        .start()
        .await;
    let api = app.admin().await;
    let mut lab = Lab::new();
    for n in [2, 3] {
        prepare(&api, &lab, n).await;
        lab.start(n);
        add_lab_host(&api, &lab, n).await;
    }
    let hosts = |name: &str, list: &Value| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == name)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let (_, list) = api.get("/api/v1/hosts").await;
    let (lab2, lab3) = (hosts("lab2", &list), hosts("lab3", &list));

    // The appliance's own host is drained first, so the deploy goes to
    // lab2 (the older of two alike).
    let local = hosts(list[0]["name"].as_str().unwrap(), &list);
    let (status, _) = api
        .post_empty(&format!("/api/v1/hosts/{local}/drain"))
        .await;
    assert_eq!(status, 200);
    let (status, accepted) = api
        .deploy_with(json!({"name": "mover", "size": "tiny", "params": {"title": "T"}}))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let common::Accepted { id, task_id } = common::Accepted::of(&accepted);
    let patient = api.patient(Duration::from_secs(300));
    assert_eq!(patient.wait_task(task_id).await["state"], "succeeded");
    let inst = api
        .wait_instance(id, Duration::from_secs(120), |i| i["state"] == "running")
        .await;
    assert_eq!(inst["host"], "lab2", "{inst}");
    let uuid = app.instance_uuid(id).await;
    // A guest on a host reached over the network has no graphical
    // console: its display's socket cannot be passed across the connection.
    let cookie =
        common::console_socket::cookie_of(&app, common::ADMIN, common::ADMIN_PASSWORD).await;
    assert_eq!(
        common::console_socket::open_graphics(&app, id, &cookie, Some(&app.origin()))
            .await
            .err(),
        Some(503)
    );

    // Live, TLS host to SSH host: QEMU copies the overlay over NBD, the
    // guest runs on.
    let clock = std::time::Instant::now();
    let (status, started) = api
        .post(
            &format!("/api/v1/instances/{id}/move"),
            json!({ "host": lab3 }),
        )
        .await;
    assert_eq!(status, 202, "{started}");
    let task = patient
        .wait_task(started["task_id"].as_i64().unwrap())
        .await;
    assert_eq!(task["state"], "succeeded", "{task}");
    eprintln!(
        "live move lab2 -> lab3, request to task's end: {:.1} s",
        clock.elapsed().as_secs_f64()
    );
    let inst = api
        .wait_instance(id, Duration::from_secs(60), |i| i["state"] == "running")
        .await;
    assert_eq!(inst["host"], "lab3", "{inst}");
    assert!(lab_domains(&lab, 3).contains(&uuid), "running on lab3");
    assert!(!lab_domains(&lab, 2).contains(&uuid), "gone from lab2");

    // Stopped, back again: started paused for the copy, left stopped.
    let (status, _) = api.act(id, "poweroff").await;
    assert_eq!(status, 202);
    api.wait_instance(id, Duration::from_secs(60), |i| i["state"] == "shut_off")
        .await;
    let clock = std::time::Instant::now();
    let (status, started) = api
        .post(
            &format!("/api/v1/instances/{id}/move"),
            json!({ "host": lab2 }),
        )
        .await;
    assert_eq!(status, 202, "{started}");
    let task = patient
        .wait_task(started["task_id"].as_i64().unwrap())
        .await;
    assert_eq!(task["state"], "succeeded", "{task}");
    eprintln!(
        "stopped move lab3 -> lab2, request to task's end: {:.1} s",
        clock.elapsed().as_secs_f64()
    );
    let inst = api
        .wait_instance(id, Duration::from_secs(60), |i| i["state"] == "shut_off")
        .await;
    assert_eq!(inst["host"], "lab2", "{inst}");
    assert!(lab_domains(&lab, 2).contains(&uuid));
    assert!(!lab_domains(&lab, 3).contains(&uuid));
    // It starts there, from the copied disk.
    let (status, _) = api.act(id, "start").await;
    assert_eq!(status, 202);
    api.wait_instance(id, Duration::from_secs(60), |i| i["state"] == "running")
        .await;

    patient.succeeds(api.delete_instance(id).await).await;
    for n in [2, 3] {
        assert_eq!(lab_domains(&lab, n).trim(), "", "lab{n}");
    }
    let _ = lab2;
}
