//! The engine on a real libvirtd with real QEMU guests (TCG), inside a
//! private network namespace. `scripts/test` runs these with
//! `scripts/sandbox` and `DPE_TEST_GUEST_DIR` set to the output of
//! `image/test-guest/build` (a cloud kernel and a busybox initramfs that
//! boots in seconds and prints `dpe-guest: …` lines on its serial console).
//!
//! The reconciler removes dpe domains it has no record of, so the tests
//! run one at a time.

// A test reports failure by panicking; its helpers may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    ADMIN, ADMIN_PASSWORD, Accepted, Api, TestApp, console_socket, entries_named, started_task,
};
use serde_json::{Value, json};
use server::engine::hypervisor::Hypervisor;
use server::engine::libvirt::LibvirtHost;

const URI: &str = "qemu:///system";
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn guest_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("DPE_TEST_GUEST_DIR").expect("DPE_TEST_GUEST_DIR: run through scripts/test"),
    )
}

fn fixture_stack() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stack")
}

/// Waits for `marker` on the guest's serial log and returns the log.
async fn serial_until(log: &Path, marker: &str, limit: Duration) -> String {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(log)
            .unwrap_or_default()
            .replace('\r', "");
        if text.contains(marker) {
            return text;
        }
        assert!(
            start.elapsed() < limit,
            "no {marker:?} on {}:\n{text}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn line_value(log: &str, key: &str) -> Option<String> {
    log.lines()
        .find_map(|l| l.strip_prefix(&format!("dpe-guest: {key}=")))
        .map(|v| v.trim().to_owned())
}

/// (dpe domains, dpe volumes in `pool`) on the host that mention `uuid`.
fn leftovers(pool: &str, uuid: &str) -> (usize, Vec<String>) {
    let host = LibvirtHost::connect(URI).unwrap();
    let domains = host
        .dpe_domains()
        .unwrap()
        .into_iter()
        .filter(|d| d.instance_uuid.contains(uuid))
        .count();
    let volumes = host
        .list_volumes(pool)
        .unwrap_or_default()
        .into_iter()
        .filter(|v| v.contains(uuid))
        .collect();
    (domains, volumes)
}

/// The domain of `uuid` as libvirt describes it.
fn dumpxml(uuid: &str) -> String {
    let xml = Command::new("virsh")
        .args(["-c", URI, "dumpxml", uuid])
        .output()
        .unwrap();
    String::from_utf8_lossy(&xml.stdout).into_owned()
}

/// The domain is ours, of type qemu (TCG: KVM is hidden in the sandbox),
/// on a linked clone whose backing file is the golden image.
fn assert_a_filtered_linked_clone(app: &TestApp, uuid: &str) {
    let xml = dumpxml(uuid);
    assert!(xml.contains("<domain type='qemu'"), "{xml}");
    // The guest's NIC is filtered, and libvirt applied the filter.
    assert!(xml.contains("filter='clean-traffic'"), "{xml}");
    let bindings = Command::new("virsh")
        .args(["-c", URI, "nwfilter-binding-list"])
        .output()
        .unwrap();
    let bindings = String::from_utf8_lossy(&bindings.stdout);
    assert!(bindings.contains("clean-traffic"), "{bindings}");
    assert!(
        xml.contains("dpe:instance") || xml.contains("instance/1"),
        "{xml}"
    );
    let overlay = app
        .data_path()
        .join("storage")
        .join(format!("{}.qcow2", app.volume_stem(uuid)));
    let info = Command::new("qemu-img")
        .args(["info", "-U", "--output=json"])
        .arg(&overlay)
        .output()
        .unwrap();
    let info: Value = serde_json::from_slice(&info.stdout).unwrap();
    assert!(
        info["backing-filename"]
            .as_str()
            .unwrap()
            .contains("golden-testguest-"),
        "{info}"
    );
    assert_eq!(info["backing-filename-format"], "qcow2");
    assert_eq!(info["virtual-size"], 1u64 << 30, "grown to the size's disk");
}

/// The guest boots, reads its seed, and gets an address: the address.
async fn guest_boots_from_its_seed(app: &TestApp, uuid: &str, hostname: &str) -> String {
    let log_path = app
        .data_path()
        .join("storage")
        .join(format!("{}.log", app.volume_stem(uuid)));
    let log = serial_until(&log_path, "dpe-guest: ready", Duration::from_secs(120)).await;
    assert_eq!(
        line_value(&log, "instance-id").as_deref(),
        Some(uuid),
        "{log}"
    );
    assert_eq!(
        line_value(&log, "hostname").as_deref(),
        Some(hostname),
        "{log}"
    );
    let guest_ip = line_value(&log, "ip").unwrap();
    assert_ne!(guest_ip, "none", "{log}");
    guest_ip
}

/// Waits until the seed of `uuid` no longer holds the user-data.
async fn seed_loses_its_user_data(app: &TestApp, uuid: &str) {
    let seed = app
        .data_path()
        .join("storage")
        .join(format!("{}-seed.img", app.volume_stem(uuid)));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let bytes = std::fs::read(&seed).unwrap();
        let mut cursor = std::io::Cursor::new(bytes);
        let fs = fatfs::FileSystem::new(&mut cursor, fatfs::FsOptions::new()).unwrap();
        let mut user_data = String::new();
        std::io::Read::read_to_string(
            &mut fs.root_dir().open_file("user-data").unwrap(),
            &mut user_data,
        )
        .unwrap();
        if !user_data.contains("write_files") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the seed still holds the user-data: {user_data}"
        );
        drop(fs);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// ACPI shutdown (the guest handles the button), then start again.
/// The instance record in domain `uuid`'s metadata, if any.
async fn domain_record(uuid: &str) -> Option<server::engine::xml::domain::GuestRecord> {
    let u = uuid.to_owned();
    tokio::task::spawn_blocking(move || {
        LibvirtHost::connect(URI)
            .unwrap()
            .dpe_domains()
            .unwrap()
            .into_iter()
            .find(|d| d.instance_uuid == u)
            .and_then(|d| d.record)
    })
    .await
    .unwrap()
}

/// Shuts the guest down; while it is off, takes the instance record out
/// of its metadata (as an older dpe defined it) and sees the reconciler
/// write it back; starts it again.
async fn shut_down_and_start_again(client: &Api, id: i64, uuid: &str) {
    let (status, started) = client.act(id, "shutdown").await;
    assert_eq!(status, 202);
    let task = client
        .patient(Duration::from_secs(90))
        .wait_task(started_task(&started))
        .await;
    assert_eq!(task["state"], "succeeded", "{task}");
    client
        .wait_instance(id, Duration::from_secs(30), |i| i["state"] == "shut_off")
        .await;
    let owner = client.get(&format!("/api/v1/instances/{id}")).await.1["owner"]
        .as_str()
        .unwrap()
        .to_owned();
    let (u, o) = (uuid.to_owned(), owner);
    tokio::task::spawn_blocking(move || {
        let host = LibvirtHost::connect(URI).unwrap();
        let appliance = host
            .dpe_domains()
            .unwrap()
            .into_iter()
            .find(|d| d.instance_uuid == u)
            .unwrap()
            .appliance;
        let bare = server::engine::xml::domain::metadata_element(
            &server::engine::xml::domain::DpeInstance {
                xmlns: server::engine::xml::domain::DPE_NS,
                appliance: &appliance,
                id: &u,
                owner: &o,
                guest: None,
            },
        )
        .unwrap();
        host.relabel_domain(&u, "guest-1", &bare).unwrap();
    })
    .await
    .unwrap();
    assert_eq!(domain_record(uuid).await, None, "taken out");
    let deadline = Instant::now() + Duration::from_secs(30);
    while domain_record(uuid).await.is_none() {
        assert!(
            Instant::now() < deadline,
            "the reconciler never wrote the record back"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (status, started) = client.act(id, "start").await;
    assert_eq!(status, 202);
    client
        .patient(Duration::from_secs(60))
        .wait_task(started_task(&started))
        .await;
    client
        .wait_instance(id, Duration::from_secs(30), |i| i["state"] == "running")
        .await;
}

/// A set-up dpe whose host is the sandbox's libvirtd, deploying the test
/// guest, and its admin.
async fn on_the_sandboxs_libvirtd() -> (TestApp, Api) {
    let app = TestApp::builder()
        .host_uri(URI)
        .image_dir(guest_dir())
        .set_up()
        .start()
        .await;
    let client = app.admin().await;
    (app, client)
}

/// Deploys a tiny test guest named `name` and waits for its deploy to
/// succeed: its id and UUID.
async fn deployed_tiny_guest(app: &TestApp, client: &Api, name: &str) -> (i64, String) {
    let (status, accepted) = client
        .deploy_with(json!({"name": name, "size": "tiny", "params": {"title": "T"}}))
        .await;
    assert_eq!(status, 202, "{accepted}");
    let Accepted { id, task_id } = Accepted::of(&accepted);
    let task = client
        .patient(Duration::from_secs(120))
        .wait_task(task_id)
        .await;
    assert_eq!(task["state"], "succeeded", "{task}");
    (id, app.instance_uuid(id).await)
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a libvirtd in a private network namespace: scripts/test runs it"]
async fn a_real_guest_boots_gets_an_address_and_leaves_nothing_behind() {
    let _serial = SERIAL.lock().await;
    let (app, client) = on_the_sandboxs_libvirtd().await;
    let (id, uuid) = deployed_tiny_guest(&app, &client, "guest-1").await;
    assert_a_filtered_linked_clone(&app, &uuid);
    let guest_ip = guest_boots_from_its_seed(&app, &uuid, "guest-1").await;

    // The appliance knows the address from DHCP, without a guest agent.
    let inst = client
        .wait_instance(id, Duration::from_secs(60), |i| i["ip"].is_string())
        .await;
    assert_eq!(inst["ip"], guest_ip.as_str());
    assert_eq!(inst["state"], "running");
    // Its domain records the instance, for a restored store to adopt it.
    let record = domain_record(&uuid)
        .await
        .expect("the domain's metadata records its instance");
    assert_eq!(record.name, "guest-1");
    assert_eq!(record.volume_stem, app.volume_stem(&uuid));
    // The guest itself answers at its address (the gateway's tests open
    // it through the appliance).
    let url = format!("http://{guest_ip}/");
    let page = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(page.contains("dpe-guest guest-1"), "{page}");

    // The stack's health check passes, and then the seed loses its user-data.
    let inst = client
        .wait_instance(id, Duration::from_secs(60), |i| i["health"] == "healthy")
        .await;
    assert_eq!(inst["state"], "running");
    seed_loses_its_user_data(&app, &uuid).await;

    shut_down_and_start_again(&client, id, &uuid).await;

    // Delete: domain, overlay, seed and log are gone.
    client.patient(Duration::from_secs(60)).remove(id).await;
    let (u, pool) = (uuid.clone(), app.storage_pool());
    assert_eq!(
        tokio::task::spawn_blocking(move || leftovers(&pool, &u))
            .await
            .unwrap(),
        (0, vec![])
    );
    let files = entries_named(&app.data_path().join("storage"), &uuid);
    assert!(files.is_empty(), "{files:?}");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a libvirtd in a private network namespace: scripts/test runs it"]
async fn a_real_guests_console_shows_its_boot_signs_in_runs_a_command_and_is_shared() {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::Message;

    let _serial = SERIAL.lock().await;
    let (app, client) = on_the_sandboxs_libvirtd().await;
    let (id, uuid) = deployed_tiny_guest(&app, &client, "console-1").await;
    // The deploy ends as the guest starts: its boot arrives over the line.
    let mut first = console_socket::open_as_admin(&app, id).await;
    let boot = console_socket::read_within(&mut first, "login:", Duration::from_secs(120)).await;
    assert!(boot.contains("dpe-guest: ready"), "{boot:?}");
    assert!(
        boot.contains(&format!("dpe-guest: instance-id={uuid}")),
        "{boot:?}"
    );

    let type_in = console_socket::type_in;
    type_in(&mut first, "root\r").await;
    console_socket::read_until(&mut first, "Password:").await;
    type_in(&mut first, "dpe-console\r").await;
    console_socket::read_until(&mut first, "# ").await;
    type_in(&mut first, "echo $((6 * 7))-answer\r").await;
    console_socket::read_until(&mut first, "42-answer").await;

    // A second viewer: the scrollback, then the same line both ways.
    let mut second = console_socket::open_as_admin(&app, id).await;
    let replayed = console_socket::read_until(&mut second, "42-answer").await;
    assert!(replayed.contains("dpe-guest: ready"), "{replayed:?}");
    type_in(&mut second, "echo second-$((1 + 1))\r").await;
    console_socket::read_until(&mut second, "second-2").await;
    console_socket::read_until(&mut first, "second-2").await;

    // A resize is typed as stty, which the shell takes.
    first
        .send(Message::text(r#"{"resize":{"rows":33,"cols":111}}"#))
        .await
        .unwrap();
    type_in(&mut first, "stty size\r").await;
    console_socket::read_until(&mut second, "33 111").await;

    // The serial log on the host still gets everything.
    let log_path = app
        .data_path()
        .join("storage")
        .join(format!("{}.log", app.volume_stem(&uuid)));
    serial_until(&log_path, "second-2", Duration::from_secs(10)).await;

    // Once every viewer left and the line closed (a 5 s grace), a new
    // viewer's line starts with the log's end, read through libvirt:
    // the boot is still there to see.
    drop((first, second));
    tokio::time::sleep(Duration::from_secs(8)).await;
    let mut third = console_socket::open_as_admin(&app, id).await;
    let replayed = console_socket::read_until(&mut third, "second-2").await;
    assert!(replayed.contains("dpe-guest: ready"), "{replayed:?}");
    type_in(&mut third, "echo third-$((1 + 2))\r").await;
    console_socket::read_until(&mut third, "third-3").await;
    drop(third);
    client.patient(Duration::from_secs(60)).remove(id).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a libvirtd in a private network namespace: scripts/test runs it"]
async fn a_real_guests_display_speaks_rfb_through_the_portal_and_shows_its_screen() {
    let _serial = SERIAL.lock().await;
    let (app, client) = on_the_sandboxs_libvirtd().await;
    let (id, uuid) = deployed_tiny_guest(&app, &client, "display-1").await;

    // The display listens nowhere on the host: no port, no password.
    let xml = {
        let uuid = uuid.clone();
        tokio::task::spawn_blocking(move || {
            let out = Command::new("virsh")
                .args(["-c", URI, "dumpxml", &uuid])
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap()
        })
        .await
        .unwrap()
    };
    assert!(
        xml.contains("<graphics type='vnc'>\n      <listen type='none'/>"),
        "{xml}"
    );
    assert!(!xml.contains("passwd="), "{xml}");
    assert!(!xml.contains("<graphics type='vnc' port="), "{xml}");

    let opened = Instant::now();
    let mut rfb = Rfb {
        socket: console_socket::open_graphics_as_admin(&app, id).await,
        seen: Vec::new(),
    };
    assert_eq!(rfb.take(12).await, b"RFB 003.008\n");
    let greeted = opened.elapsed();
    // The handshake of RFB 3.8 (RFC 6143 §7.1-7.3): no security, since
    // only the portal can reach the display.
    rfb.send(b"RFB 003.008\n").await;
    let count = rfb.take(1).await[0] as usize;
    let types = rfb.take(count).await;
    assert_eq!(types, [1], "only security type None");
    rfb.send(&[1]).await;
    assert_eq!(rfb.take(4).await, [0, 0, 0, 0], "security accepted");
    rfb.send(&[1]).await; // ClientInit: share the screen
    let init = rfb.take(24).await;
    let (width, height) = (
        u16::from_be_bytes([init[0], init[1]]),
        u16::from_be_bytes([init[2], init[3]]),
    );
    let bytes_per_pixel = usize::from(init[4] / 8);
    let name_len = u32::from_be_bytes([init[20], init[21], init[22], init[23]]) as usize;
    let name = String::from_utf8(rfb.take(name_len).await).unwrap();
    assert!(width > 0 && height > 0, "{width}x{height}");
    assert!(name.starts_with("QEMU"), "{name:?}");

    // The whole screen, raw, until it is more than one colour: the guest
    // has drawn on it (its firmware's and kernel's text).
    let deadline = Instant::now() + Duration::from_secs(120);
    let first_frame = loop {
        let mut request = vec![3, 0, 0, 0, 0, 0];
        request.extend_from_slice(&width.to_be_bytes());
        request.extend_from_slice(&height.to_be_bytes());
        rfb.send(&request).await;
        let pixels = rfb.framebuffer_update(bytes_per_pixel).await;
        let first = &pixels[..bytes_per_pixel];
        if pixels.chunks(bytes_per_pixel).any(|p| p != first) {
            break opened.elapsed();
        }
        assert!(Instant::now() < deadline, "the screen stayed blank");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    println!(
        "display {width}x{height} {name:?}: greeting after {greeted:?}, a drawn screen after {first_frame:?}"
    );
    drop(rfb);
    client.patient(Duration::from_secs(60)).remove(id).await;
}

/// An RFB client over the portal's WebSocket, enough for a handshake and
/// raw framebuffer updates.
struct Rfb {
    socket: console_socket::Socket,
    seen: Vec<u8>,
}

impl Rfb {
    async fn send(&mut self, bytes: &[u8]) {
        use futures::SinkExt;
        self.socket
            .send(tokio_tungstenite::tungstenite::Message::binary(
                bytes.to_vec(),
            ))
            .await
            .unwrap();
    }

    /// The next `n` bytes the display sent.
    async fn take(&mut self, n: usize) -> Vec<u8> {
        use futures::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        while self.seen.len() < n {
            let next = tokio::time::timeout(Duration::from_secs(30), self.socket.next()).await;
            match next {
                Ok(Some(Ok(Message::Binary(bytes)))) => self.seen.extend_from_slice(&bytes),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => {}
                other => panic!("the display's socket ended: {other:?}"),
            }
        }
        self.seen.drain(..n).collect()
    }

    /// The pixels of the next FramebufferUpdate (raw rectangles only,
    /// the one encoding the client asked for by asking for none).
    async fn framebuffer_update(&mut self, bytes_per_pixel: usize) -> Vec<u8> {
        let head = self.take(4).await;
        assert_eq!(head[0], 0, "a FramebufferUpdate");
        let rects = u16::from_be_bytes([head[2], head[3]]);
        let mut pixels = Vec::new();
        for _ in 0..rects {
            let rect = self.take(12).await;
            let w = usize::from(u16::from_be_bytes([rect[4], rect[5]]));
            let h = usize::from(u16::from_be_bytes([rect[6], rect[7]]));
            let encoding = i32::from_be_bytes([rect[8], rect[9], rect[10], rect[11]]);
            assert_eq!(encoding, 0, "raw");
            pixels.extend(self.take(w * h * bytes_per_pixel).await);
        }
        pixels
    }
}

/// An instance's UUID, read from the store of a dpe that runs elsewhere.
/// Runs `script` in the guest through its agent: what it wrote to
/// standard error (the agent's exec gives back no more).
fn in_guest(uuid: &str, script: &str) -> String {
    common::guest::in_guest(URI, uuid, script)
}

/// Waits until the guest's agent answers (after a boot or a revert).
async fn agent_answers(uuid: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let u = uuid.to_owned();
        let answered = tokio::task::spawn_blocking(move || {
            let host = LibvirtHost::connect(URI).unwrap();
            host.guest_exec(&u, &["/bin/true".to_owned()], b"", Duration::from_secs(5))
                .is_ok_and(|exit| exit.code == 0)
        })
        .await
        .unwrap();
        if answered {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the guest agent of {uuid} never answered"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a libvirtd in a private network namespace: scripts/test runs it"]
async fn a_real_guest_comes_back_to_its_snapshot_disk_and_memory_alike() {
    let _serial = SERIAL.lock().await;
    let (app, client) = on_the_sandboxs_libvirtd().await;
    let (id, uuid) = deployed_tiny_guest(&app, &client, "snap-1").await;
    guest_boots_from_its_seed(&app, &uuid, "snap-1").await;
    agent_answers(&uuid).await;

    // A mark on the disk (the overlay, 2 MiB in) and one in memory.
    let mark = |word: &'static str| {
        let u = uuid.clone();
        tokio::task::spawn_blocking(move || {
            in_guest(
                &u,
                &format!(
                    "printf {word} | dd of=/dev/vda bs=512 seek=4096 conv=notrunc,fsync 2>/dev/null \
                     && echo {word} > /run/mark"
                ),
            )
        })
    };
    let read_marks = || {
        let u = uuid.clone();
        tokio::task::spawn_blocking(move || {
            in_guest(
                &u,
                "dd if=/dev/vda bs=512 skip=4096 count=1 2>/dev/null | head -c 6 >&2; \
                 echo >&2; cat /run/mark >&2",
            )
        })
    };
    mark("before").await.unwrap();

    let started = Instant::now();
    let body = client
        .patient(Duration::from_secs(120))
        .succeeds(
            client
                .post(
                    &format!("/api/v1/instances/{id}/snapshots"),
                    json!({"name": "marked", "description": "before the change"}),
                )
                .await,
        )
        .await;
    let snapshot = body["id"].as_i64().unwrap();
    println!(
        "snapshot of a running 256 MiB guest: {:?}",
        started.elapsed()
    );
    let (_, list) = client
        .get(&format!("/api/v1/instances/{id}/snapshots"))
        .await;
    let taken = &list["snapshots"][0];
    assert_eq!(taken["with_memory"], true, "{list}");
    assert!(taken["size_bytes"].as_u64().unwrap() > 0, "{list}");
    println!("its size on the host: {} bytes", taken["size_bytes"]);

    mark("after!").await.unwrap();
    assert_eq!(read_marks().await.unwrap(), "after!\nafter!\n");

    let started = Instant::now();
    client
        .patient(Duration::from_secs(120))
        .succeeds(
            client
                .post_empty(&format!(
                    "/api/v1/instances/{id}/snapshots/{snapshot}/revert"
                ))
                .await,
        )
        .await;
    println!("revert: {:?}", started.elapsed());
    client
        .wait_instance(id, Duration::from_secs(30), |i| i["state"] == "running")
        .await;
    agent_answers(&uuid).await;
    assert_eq!(read_marks().await.unwrap(), "before\nbefore\n");

    let (status, body) = client
        .delete(&format!("/api/v1/instances/{id}/snapshots/{snapshot}"))
        .await;
    assert_eq!(status, 202, "{body}");
    let task = client
        .patient(Duration::from_secs(60))
        .wait_task(body["task_id"].as_i64().unwrap())
        .await;
    assert_eq!(task["state"], "succeeded", "{task}");
    let u = uuid.clone();
    let still = tokio::task::spawn_blocking(move || {
        LibvirtHost::connect(URI)
            .unwrap()
            .has_snapshot(&u, &format!("dpe-snap-{snapshot}"))
            .unwrap()
    })
    .await
    .unwrap();
    assert!(!still);

    // A snapshot left on the instance goes with it.
    let (status, body) = client
        .post(
            &format!("/api/v1/instances/{id}/snapshots"),
            json!({"name": "left"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    client
        .patient(Duration::from_secs(120))
        .wait_task(body["task_id"].as_i64().unwrap())
        .await;
    client.patient(Duration::from_secs(60)).remove(id).await;
    let (u, pool) = (uuid.clone(), app.storage_pool());
    assert_eq!(
        tokio::task::spawn_blocking(move || leftovers(&pool, &u))
            .await
            .unwrap(),
        (0, vec![])
    );
}

/// Writes `word` at 512-byte sector `sector` of the guest's disk.
fn mark_disk(uuid: &str, sector: u32, word: &str) {
    in_guest(
        uuid,
        &format!(
            "printf {word} | dd of=/dev/vda bs=512 seek={sector} conv=notrunc,fsync 2>/dev/null"
        ),
    );
}

/// The 6 bytes at sector `sector` of the guest's disk.
fn read_disk(uuid: &str, sector: u32) -> String {
    in_guest(
        uuid,
        &format!("dd if=/dev/vda bs=512 skip={sector} count=1 2>/dev/null | head -c 6 >&2"),
    )
}

/// Starts a backup of instance `id` and waits for it: the backup.
async fn real_backup(client: &Api, id: i64) -> Value {
    let started = Instant::now();
    let body = client
        .patient(Duration::from_secs(300))
        .succeeds(
            client
                .post_empty(&format!("/api/v1/instances/{id}/backups"))
                .await,
        )
        .await;
    let (_, list) = client.get("/api/v1/backups").await;
    let backup = list
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == body["id"])
        .cloned()
        .unwrap();
    println!(
        "{} backup: {} bytes, job {} ms, task {:?}, frozen {} ms",
        backup["kind"],
        backup["size_bytes"],
        backup["duration_ms"],
        started.elapsed(),
        backup["frozen_ms"]
    );
    backup
}

/// Restores backup `backup` into a new instance `name` and waits until
/// its guest agent answers: the new instance's UUID.
async fn real_restore(app: &TestApp, client: &Api, backup: &Value, name: &str) -> String {
    let started = Instant::now();
    let body = client
        .patient(Duration::from_secs(300))
        .succeeds(
            client
                .post(
                    &format!("/api/v1/backups/{}/restore", backup["id"]),
                    json!({"name": name}),
                )
                .await,
        )
        .await;
    let uuid = app.instance_uuid(body["id"].as_i64().unwrap()).await;
    agent_answers(&uuid).await;
    println!(
        "restore of the {} backup: {:?} until its agent answered",
        backup["kind"],
        started.elapsed()
    );
    uuid
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a libvirtd in a private network namespace: scripts/test runs it"]
async fn a_real_guest_is_backed_up_incrementally_and_each_point_comes_back_after_it_is_deleted() {
    let _serial = SERIAL.lock().await;
    // What the engine logs (a failed step's whole chain) shows with a failure.
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let (app, client) = on_the_sandboxs_libvirtd().await;
    let (id, uuid) = deployed_tiny_guest(&app, &client, "bk-1").await;
    guest_boots_from_its_seed(&app, &uuid, "bk-1").await;
    agent_answers(&uuid).await;
    let blocking = |f: Box<dyn FnOnce() -> String + Send>| async move {
        tokio::task::spawn_blocking(f).await.unwrap()
    };

    // Page A, a full backup; page B, an incremental one.
    let u = uuid.clone();
    blocking(Box::new(move || {
        mark_disk(&u, 4096, "pageAA");
        String::new()
    }))
    .await;
    let full = real_backup(&client, id).await;
    assert_eq!(full["kind"], "full", "{full}");
    let u = uuid.clone();
    blocking(Box::new(move || {
        mark_disk(&u, 8192, "pageBB");
        String::new()
    }))
    .await;
    let incremental = real_backup(&client, id).await;
    assert_eq!(incremental["kind"], "incremental", "{incremental}");
    assert_eq!(incremental["parent_id"], full["id"]);
    let (full_size, inc_size) = (
        full["size_bytes"].as_u64().unwrap(),
        incremental["size_bytes"].as_u64().unwrap(),
    );
    println!(
        "incremental after one change: {inc_size} bytes, {:.1}% of the full backup's {full_size}",
        inc_size as f64 * 100.0 / full_size as f64
    );
    assert!(inc_size < full_size, "{inc_size} of {full_size}");

    // Gone: the instance, not its backups.
    client.patient(Duration::from_secs(60)).remove(id).await;

    let both = real_restore(&app, &client, &incremental, "bk-b").await;
    let b = both.clone();
    let read = blocking(Box::new(move || {
        format!("{} {}", read_disk(&b, 4096), read_disk(&b, 8192))
    }))
    .await;
    assert_eq!(read, "pageAA pageBB");
    let only_a = real_restore(&app, &client, &full, "bk-a").await;
    let a = only_a.clone();
    let read = blocking(Box::new(move || {
        format!("{} {}", read_disk(&a, 4096), read_disk(&a, 8192))
    }))
    .await;
    assert!(
        read.starts_with("pageAA ") && !read.ends_with("pageBB"),
        "{read}"
    );

    // A restored guest is backed up afresh, and a snapshot reverts over
    // the checkpoint that backup left (QEMU refuses dirty bitmaps).
    let (b_id, _) = instance_named(&client, "bk-b").await;
    let again = real_backup(&client, b_id).await;
    assert_eq!(again["kind"], "full");
    let body = client
        .patient(Duration::from_secs(120))
        .succeeds(
            client
                .post(
                    &format!("/api/v1/instances/{b_id}/snapshots"),
                    json!({"name": "s"}),
                )
                .await,
        )
        .await;
    let snap = body["id"].as_i64().unwrap();
    client
        .patient(Duration::from_secs(120))
        .succeeds(
            client
                .post_empty(&format!("/api/v1/instances/{b_id}/snapshots/{snap}/revert"))
                .await,
        )
        .await;
    let after = real_backup(&client, b_id).await;
    assert_eq!(after["kind"], "full", "the revert broke the chain: {after}");
    assert!(
        after["reason"].as_str().unwrap().contains("checkpoint"),
        "{after}"
    );

    // Page C, then that backup restored over the guest: C is gone, and
    // the disk that had it is kept as a snapshot, which brings it back.
    let b_uuid = app.instance_uuid(b_id).await;
    let u = b_uuid.clone();
    blocking(Box::new(move || {
        mark_disk(&u, 12288, "pageCC");
        String::new()
    }))
    .await;
    let started = Instant::now();
    client
        .patient(Duration::from_secs(300))
        .succeeds(
            client
                .post(
                    &format!("/api/v1/instances/{b_id}/restore"),
                    json!({"backup_id": after["id"]}),
                )
                .await,
        )
        .await;
    agent_answers(&b_uuid).await;
    println!(
        "restore over the instance: {:?} until its agent answered",
        started.elapsed()
    );
    let u = b_uuid.clone();
    let read = blocking(Box::new(move || {
        format!(
            "{} {} {}",
            read_disk(&u, 4096),
            read_disk(&u, 8192),
            read_disk(&u, 12288)
        )
    }))
    .await;
    assert!(
        read.starts_with("pageAA pageBB ") && !read.ends_with("pageCC"),
        "{read}"
    );
    let (_, snapshots) = client
        .get(&format!("/api/v1/instances/{b_id}/snapshots"))
        .await;
    let kept = snapshots["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "disk_copy")
        .cloned()
        .unwrap_or_else(|| panic!("no disk copy: {snapshots}"));
    assert_eq!(
        snapshots["snapshots"].as_array().unwrap().len(),
        1,
        "{snapshots}"
    );
    assert!(kept["size_bytes"].as_u64().unwrap() > 0, "{kept}");
    client
        .patient(Duration::from_secs(300))
        .succeeds(
            client
                .post_empty(&format!(
                    "/api/v1/instances/{b_id}/snapshots/{}/revert",
                    kept["id"]
                ))
                .await,
        )
        .await;
    agent_answers(&b_uuid).await;
    let u = b_uuid.clone();
    let read = blocking(Box::new(move || read_disk(&u, 12288))).await;
    assert_eq!(read, "pageCC", "the kept disk is back");

    // A restore drill: the backup boots in a throwaway guest on the
    // drills' isolated network, its page answers, and the guest goes.
    let started = Instant::now();
    let (status, body) = client
        .post_empty(&format!("/api/v1/backups/{}/drill", after["id"]))
        .await;
    assert_eq!(status, 202, "{body}");
    let drilled = loop {
        let (_, list) = client.get("/api/v1/backups").await;
        let row = list
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["id"] == after["id"])
            .cloned()
            .unwrap();
        if row["drill"]["state"] != "running" {
            break row;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "{row}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    println!(
        "restore drill: {:?}, {}",
        started.elapsed(),
        drilled["drill"]
    );
    assert_eq!(drilled["drill"]["state"], "passed", "{drilled}");
    let drill_guests: Vec<String> = LibvirtHost::connect(URI)
        .unwrap()
        .dpe_domains()
        .unwrap()
        .into_iter()
        .filter(|d| d.instance_uuid != b_uuid && d.instance_uuid != only_a)
        .map(|d| d.name)
        .collect();
    assert!(
        drill_guests.is_empty(),
        "the drill's guest is gone: {drill_guests:?}"
    );

    // A flipped byte in the full backup's file: damaged, and refused.
    let file = app
        .data_path()
        .join(format!("{}-backups", app.storage_pool()))
        .join(format!("dpe-backup-{uuid}-{}.qcow2", full["id"]));
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
        f.seek(SeekFrom::Start(3 << 20)).unwrap();
        f.write_all(b"rot").unwrap();
    }
    let (status, checked) = client
        .post_empty(&format!("/api/v1/backups/{}/verify", incremental["id"]))
        .await;
    assert_eq!(status, 200, "{checked}");
    let (_, damaged) = client.get("/api/v1/backups?damaged=true").await;
    assert_eq!(damaged[0]["id"], full["id"], "{damaged}");
    let (status, body) = client
        .post(
            &format!("/api/v1/backups/{}/restore", incremental["id"]),
            json!({"name": "bk-c"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    for name in ["bk-a", "bk-b"] {
        let (gone, _) = instance_named(&client, name).await;
        client.patient(Duration::from_secs(60)).remove(gone).await;
    }
}

/// The id and UUID of the instance named `name`.
async fn instance_named(client: &Api, name: &str) -> (i64, String) {
    let (_, list) = client.instances().await;
    let inst = list
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no instance {name}: {list}"));
    (
        inst["id"].as_i64().unwrap(),
        inst["uuid"].as_str().unwrap_or_default().to_owned(),
    )
}

fn app_uuid(data: &Path, id: i64) -> String {
    let conn = rusqlite::Connection::open(data.join("dpe.sqlite3")).unwrap();
    conn.query_row("SELECT uuid FROM instances WHERE id = ?1", [id], |r| {
        r.get(0)
    })
    .unwrap()
}

struct Dpe {
    child: Child,
    base: String,
}

impl Drop for Dpe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_dpe(data: &Path, port: u16, pool: &str) -> Dpe {
    spawn_dpe_with(data, port, pool, &fixture_stack())
}

fn spawn_dpe_with(data: &Path, port: u16, pool: &str, stack: &Path) -> Dpe {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dpe"));
    // dpe refuses unknown DPE_* variables, such as this test's own.
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("DPE_")) {
        command.env_remove(key);
    }
    let child = command
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data)
        .env("DPE_STACK_DIR", stack)
        .env("DPE_IMAGE_DIR", guest_dir())
        .env("DPE_RECONCILE_INTERVAL_MS", "300")
        .env("DPE_STORAGE_POOL", pool)
        .env(
            "RUST_LOG",
            std::env::var("DPE_TEST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    Dpe {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

/// A data folder QEMU can reach, a free port, and a storage pool of its
/// own (`dpe-KIND-…`) for a dpe this test runs.
fn a_place_for_dpe(kind: &str) -> (tempfile::TempDir, u16, String) {
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let pool = format!(
        "dpe-{kind}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    (dir, port, pool)
}

async fn wait_up(base: &str) {
    for _ in 0..100 {
        if reqwest::get(format!("{base}/api/v1/health")).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("dpe did not come up at {base}");
}

async fn signed_in(base: &str) -> Api {
    Api::browser(base).signed_in(ADMIN, ADMIN_PASSWORD).await
}

/// Four deploys cut off at different points by a kill that follows:
/// right away, and a little later (0, 40, 120 and 300 ms apart). Their
/// 202s.
async fn deploy_four(client: &Api) -> Vec<Value> {
    let mut accepted = Vec::new();
    for (n, delay_ms) in [0u64, 40, 120, 300].into_iter().enumerate() {
        let (status, body) = client
            .deploy_with(
                json!({"name": format!("cut-{n}"), "size": "tiny", "params": {"title": "T"}}),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        accepted.push(body);
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    }
    accepted
}

/// Completes setup of the dpe that `dpe` runs on `data`.
async fn set_up(dpe: &Dpe, data: &Path) {
    let code = std::fs::read_to_string(data.join("setup-code")).unwrap();
    let setup = json!({
        "setup_code": code.trim(),
        "appliance_name": "kill test", "admin_username": ADMIN, "admin_password": ADMIN_PASSWORD,
        "host_uri": URI, "storage_dir": data.join("storage"), "network": "default",
    });
    let (status, body) = Api::browser(dpe.base.as_str())
        .post("/api/v1/setup", setup)
        .await;
    assert_eq!(status, 201, "{body}");
}

/// No domain of the appliance whose store is in `data`, and no instance
/// volume in `pool`, is left on the host.
async fn assert_nothing_of_the_appliance_is_left(data: &Path, pool: String) {
    // Only this appliance's domains count: the host may hold others'.
    let appliance: String = rusqlite::Connection::open(data.join("dpe.sqlite3"))
        .unwrap()
        .query_row(
            "SELECT value FROM settings WHERE key = 'appliance_id'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let (domains, volumes) = tokio::task::spawn_blocking(move || {
        let host = LibvirtHost::connect(URI).unwrap();
        let domains = host
            .dpe_domains()
            .unwrap()
            .into_iter()
            .filter(|d| d.appliance == appliance)
            .count();
        (domains, host.list_volumes(&pool).unwrap_or_default())
    })
    .await
    .unwrap();
    let instance_volumes: Vec<_> = volumes
        .into_iter()
        .filter(|v| v.starts_with("dpe-"))
        .collect();
    assert_eq!(
        (domains, instance_volumes),
        (0, vec![]),
        "no orphaned domain, volume or seed"
    );
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a libvirtd in a private network namespace: scripts/test runs it"]
async fn kill_9_during_deploys_leaves_each_instance_complete_or_gone() {
    let _serial = SERIAL.lock().await;
    let (dir, port, pool) = a_place_for_dpe("kill");
    let dpe = spawn_dpe(dir.path(), port, &pool);
    wait_up(&dpe.base).await;
    set_up(&dpe, dir.path()).await;
    let client = signed_in(&dpe.base).await;

    let accepted = deploy_four(&client).await;
    drop(dpe); // SIGKILL: no chance to clean up

    let dpe = spawn_dpe(dir.path(), port, &pool);
    wait_up(&dpe.base).await;
    let client = signed_in(&dpe.base).await;
    let mut completed = 0;
    for body in &accepted {
        let Accepted { id, task_id } = Accepted::of(body);
        let task = client
            .patient(Duration::from_secs(120))
            .wait_task(task_id)
            .await;
        let (status, inst) = client.instance(id).await;
        match task["state"].as_str() {
            Some("succeeded") => {
                assert_eq!(
                    (status, inst["state"].as_str()),
                    (200, Some("running")),
                    "{inst}"
                );
                completed += 1;
            }
            Some("failed") => {
                // Rolled back: nothing of it is left on the host.
                assert_eq!(inst["state"], "failed", "{task}");
                let uuid = app_uuid(dir.path(), id);
                let pool2 = pool.clone();
                assert_eq!(
                    tokio::task::spawn_blocking(move || leftovers(&pool2, &uuid))
                        .await
                        .unwrap(),
                    (0, vec![]),
                    "{task}"
                );
            }
            other => panic!("unexpected {other:?}: {task}"),
        }
    }
    // Every step is idempotent, so the restart resumes rather than fails.
    assert_eq!(
        completed,
        accepted.len(),
        "all cut-off deploys resumed to completion"
    );
    // Delete them all; then nothing of dpe's remains on the host.
    for body in &accepted {
        let id = Accepted::of(body).id;
        client.patient(Duration::from_secs(60)).remove(id).await;
    }
    assert_nothing_of_the_appliance_is_left(dir.path(), pool).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a libvirtd in a private network namespace: scripts/test runs it"]
async fn kill_9_during_claims_and_refills_claims_no_member_twice_and_leaks_nothing() {
    let _serial = SERIAL.lock().await;
    let (dir, port, pool) = a_place_for_dpe("claim");
    // The test stack with a warm pool: the busybox guest runs Debian's
    // QEMU guest agent and a personalize script.
    let warm = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/warm-stack");
    let dpe = spawn_dpe_with(dir.path(), port, &pool, &warm);
    wait_up(&dpe.base).await;
    set_up(&dpe, dir.path()).await;
    let client = signed_in(&dpe.base).await;
    let (status, body) = client
        .put("/api/v1/pool", json!({"targets": {"tiny": 3}}))
        .await;
    assert_eq!(status, 200, "{body}");
    let ready = |p: &Value| {
        p["members"]
            .as_array()
            .map_or(0, |m| m.iter().filter(|m| m["state"] == "ready").count())
    };
    let before = client
        .patient(Duration::from_secs(30))
        .poll("/api/v1/pool", Duration::from_secs(300), |p| ready(p) >= 2)
        .await;
    println!("pool before the kill: {before}");

    // First, a claim left alone: the member's own guest agent runs the
    // personalize script, which takes the instance's name.
    let (status, body) = client
        .deploy_with(json!({"name": "warm-first", "size": "tiny", "params": {"title": "W"}}))
        .await;
    assert_eq!(status, 202, "{body}");
    let first = Accepted::of(&body);
    let task = client
        .patient(Duration::from_secs(60))
        .wait_task(first.task_id)
        .await;
    assert_eq!(task["state"], "succeeded", "{task}");
    assert_eq!(
        task["steps"].as_array().map(Vec::len),
        Some(1),
        "warm: {task}"
    );
    let stem: String = rusqlite::Connection::open(dir.path().join("dpe.sqlite3"))
        .unwrap()
        .query_row(
            "SELECT volume_stem FROM instances WHERE id = ?1",
            [first.id],
            |r| r.get(0),
        )
        .unwrap();
    let log = dir.path().join("storage").join(format!("{stem}.log"));
    serial_until(
        &log,
        "dpe-guest: personalized hostname=warm-first",
        Duration::from_secs(30),
    )
    .await;
    client
        .patient(Duration::from_secs(30))
        .poll("/api/v1/pool", Duration::from_secs(300), |p| ready(p) >= 2)
        .await;

    // Claims cut off at different points, and a refill booting beside them.
    let accepted = deploy_four(&client).await;
    drop(dpe); // SIGKILL: no chance to clean up

    let dpe = spawn_dpe_with(dir.path(), port, &pool, &warm);
    wait_up(&dpe.base).await;
    let client = signed_in(&dpe.base).await;
    let mut uuids = std::collections::HashSet::new();
    let mut warm_deploys = 0;
    for body in &accepted {
        let Accepted { id, task_id } = Accepted::of(body);
        let task = client
            .patient(Duration::from_secs(180))
            .wait_task(task_id)
            .await;
        // A claim finished, or its member was destroyed and the deploy
        // went on cold: either way the user's deploy succeeds.
        assert_eq!(task["state"], "succeeded", "{task}");
        if task["steps"][0]["name"] == "personalize" && task["steps"][0]["state"] == "done" {
            warm_deploys += 1;
        }
        let (status, inst) = client.instance(id).await;
        assert_eq!(
            (status, inst["state"].as_str()),
            (200, Some("running")),
            "{inst}"
        );
        assert!(
            uuids.insert(app_uuid(dir.path(), id)),
            "a guest went to two deploys"
        );
    }
    println!(
        "deploys that kept their claim: {warm_deploys} of {}",
        accepted.len()
    );
    // No member is left claiming, and none is claimed twice: every
    // member's guest is a member's or an instance's, not both.
    let after = client.get("/api/v1/pool").await.1;
    assert!(
        after["members"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["state"] != "claiming"),
        "{after}"
    );
    // Empty the pool and delete the instances; then nothing of dpe's
    // remains on the host: no leaked domain or volume.
    let (status, body) = client.put("/api/v1/pool", json!({"targets": {}})).await;
    assert_eq!(status, 200, "{body}");
    client
        .patient(Duration::from_secs(30))
        .poll("/api/v1/pool", Duration::from_secs(300), |p| {
            p["members"].as_array().is_some_and(Vec::is_empty)
        })
        .await;
    for body in &accepted {
        let id = Accepted::of(body).id;
        client.patient(Duration::from_secs(60)).remove(id).await;
    }
    client
        .patient(Duration::from_secs(60))
        .remove(first.id)
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_nothing_of_the_appliance_is_left(dir.path(), pool).await;
}

/// Whether this process runs in a network namespace of its own (the
/// sandbox's), not the machine's: only there may a test make bridges.
fn in_private_network_namespace() -> bool {
    let ns = |path: &str| std::fs::read_link(path).ok();
    ns("/proc/self/ns/net") != ns("/proc/1/ns/net")
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().unwrap();
    assert!(status.success(), "ip {args:?} failed");
}

/// A LAN stand-in inside the sandbox: a bridge whose own address plays
/// the LAN's router. Removed on drop.
struct LanBridge(&'static str);

impl LanBridge {
    fn create(name: &'static str, router: &str) -> LanBridge {
        assert!(
            in_private_network_namespace(),
            "bridges are made only in the sandbox's network namespace"
        );
        let _ = Command::new("ip")
            .args(["link", "del", name])
            .stderr(Stdio::null())
            .status();
        ip(&["link", "add", name, "type", "bridge"]);
        ip(&["addr", "add", router, "dev", name]);
        ip(&["link", "set", name, "up"]);
        LanBridge(name)
    }
}

impl Drop for LanBridge {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", self.0]).status();
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a libvirtd in a private network namespace: scripts/test runs it"]
async fn an_outside_instance_answers_on_the_lan_at_its_pool_address() {
    let _serial = SERIAL.lock().await;
    let _lan = LanBridge::create("dpe-lan0", "10.77.0.1/24");
    let app = TestApp::builder()
        .host_uri(URI)
        .image_dir(guest_dir())
        .set_up()
        .start()
        .await;
    let client = app.admin().await;
    let (status, zones) = client
        .put(
            "/api/v1/zones/outside",
            json!({"bridge": "dpe-lan0", "first_address": "10.77.0.10",
                "last_address": "10.77.0.20", "prefix_len": 24, "gateway": "10.77.0.1",
                "dns": ["10.77.0.1"]}),
        )
        .await;
    assert_eq!(status, 200, "{zones}");

    let (status, accepted) = client
        .deploy_with(
            json!({"name": "lan-guest", "size": "tiny", "zone": "outside",
            "params": {"title": "T"}}),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    let Accepted { id, task_id } = Accepted::of(&accepted);
    let task = client
        .patient(Duration::from_secs(120))
        .wait_task(task_id)
        .await;
    assert_eq!(task["state"], "succeeded", "{task}");
    let uuid = app_uuid(&app.data_path(), id);

    // The guest configures the address from its seed, no DHCP involved.
    let log_path = app
        .data_path()
        .join("storage")
        .join(format!("{}.log", app.volume_stem(&uuid)));
    let log = serial_until(&log_path, "dpe-guest: ready", Duration::from_secs(120)).await;
    assert_eq!(
        line_value(&log, "ip").as_deref(),
        Some("10.77.0.10"),
        "{log}"
    );
    let xml = dumpxml(&uuid);
    assert!(xml.contains("<interface type='bridge'>"), "{xml}");
    assert!(xml.contains("<source bridge='dpe-lan0'/>"), "{xml}");

    // It answers on the LAN side at that address, and the appliance's
    // health check reaches it there.
    let inst = client
        .wait_instance(id, Duration::from_secs(60), |i| i["health"] == "healthy")
        .await;
    assert_eq!(
        (inst["ip"].as_str(), inst["zone"].as_str()),
        (Some("10.77.0.10"), Some("outside")),
        "{inst}"
    );
    let page = reqwest::get("http://10.77.0.10/")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("dpe-guest lan-guest"), "{page}");

    client.patient(Duration::from_secs(60)).remove(id).await;
    let (u, pool) = (uuid.clone(), app.storage_pool());
    assert_eq!(
        tokio::task::spawn_blocking(move || leftovers(&pool, &u))
            .await
            .unwrap(),
        (0, vec![])
    );
    let (_, zones) = client.get("/api/v1/zones").await;
    assert_eq!(zones["outside"]["in_use"], 0, "the address is free again");
}

/// Whether libvirt says the domain has a job running.
/// A dpe of its own (its pool named after `kind`), set up, with one tiny
/// instance `name` deployed and its guest agent answering.
struct OwnDpe {
    dir: tempfile::TempDir,
    port: u16,
    pool: String,
    dpe: Dpe,
    client: Api,
    id: i64,
    uuid: String,
}

async fn own_dpe_with_a_guest(kind: &str, name: &str) -> OwnDpe {
    let (dir, port, pool) = a_place_for_dpe(kind);
    let dpe = spawn_dpe(dir.path(), port, &pool);
    wait_up(&dpe.base).await;
    set_up(&dpe, dir.path()).await;
    let client = signed_in(&dpe.base).await;
    let (status, body) = client
        .deploy_with(json!({"name": name, "size": "tiny", "params": {"title": "T"}}))
        .await;
    assert_eq!(status, 202, "{body}");
    let Accepted { id, task_id } = Accepted::of(&body);
    let task = client
        .patient(Duration::from_secs(120))
        .wait_task(task_id)
        .await;
    assert_eq!(task["state"], "succeeded", "{task}");
    let uuid = app_uuid(dir.path(), id);
    agent_answers(&uuid).await;
    OwnDpe {
        dir,
        port,
        pool,
        dpe,
        client,
        id,
        uuid,
    }
}

/// Whether `seen` (a blocking look at the host) comes true within `looks`
/// looks, 25 ms apart.
async fn seen_within(looks: u32, seen: impl Fn() -> bool + Clone + Send + 'static) -> bool {
    for _ in 0..looks {
        let look = seen.clone();
        if tokio::task::spawn_blocking(look).await.unwrap() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

fn job_runs(uuid: &str) -> bool {
    let out = Command::new("virsh")
        .args(["-c", URI, "domjobinfo", uuid])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    !text.contains("None") && text.contains("Job type")
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a libvirtd in a private network namespace: scripts/test runs it"]
async fn kill_9_during_a_backup_leaves_no_half_backup_and_no_job_and_a_lost_bitmap_starts_a_new_chain()
 {
    let _serial = SERIAL.lock().await;
    let OwnDpe {
        dir,
        port,
        pool,
        dpe,
        client,
        id,
        uuid,
    } = own_dpe_with_a_guest("bkill", "bk-kill").await;
    // A first backup, and then 400 MiB of fresh data: the next copy takes
    // long enough under TCG to be cut off.
    let first = real_backup(&client, id).await;
    let u = uuid.clone();
    tokio::task::spawn_blocking(move || {
        in_guest(
            &u,
            "dd if=/dev/urandom of=/dev/vda bs=1M seek=8 count=400 conv=fsync 2>/dev/null",
        )
    })
    .await
    .unwrap();
    let (status, body) = client
        .post_empty(&format!("/api/v1/instances/{id}/backups"))
        .await;
    assert_eq!(status, 202, "{body}");
    let cut = Accepted::of(&body);
    let u = uuid.clone();
    let running = seen_within(200, move || job_runs(&u)).await;
    assert!(running, "the backup job was seen running");
    drop(dpe); // SIGKILL mid-job

    let dpe = spawn_dpe(dir.path(), port, &pool);
    wait_up(&dpe.base).await;
    let client = signed_in(&dpe.base).await;
    let task = client
        .patient(Duration::from_secs(120))
        .wait_task(cut.task_id)
        .await;
    assert_eq!(task["state"], "failed", "{task}");
    assert_eq!(task["error"], "the backup was interrupted");
    let (_, list) = client.get("/api/v1/backups").await;
    let failed = list
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == cut.id)
        .cloned()
        .unwrap();
    assert_eq!(failed["state"], "failed", "{failed}");
    let u = uuid.clone();
    assert!(
        !tokio::task::spawn_blocking(move || job_runs(&u))
            .await
            .unwrap(),
        "no libvirt job is left"
    );
    let file = dir
        .path()
        .join(format!("{pool}-backups"))
        .join(format!("dpe-backup-{uuid}-{}.qcow2", cut.id));
    assert!(!file.exists(), "no half backup file: {file:?}");
    // The chain goes on from the first backup.
    let next = real_backup(&client, id).await;
    assert_eq!(next["kind"], "incremental", "{next}");
    assert_eq!(next["parent_id"], first["id"]);

    // The bitmap removed from the stopped guest's disk (libvirt still
    // lists its checkpoint): the next backup is a full one, and says why.
    let (status, body) = client.act(id, "poweroff").await;
    assert_eq!(status, 202, "{body}");
    client
        .patient(Duration::from_secs(60))
        .wait_task(body["task_id"].as_i64().unwrap())
        .await;
    let disk = dir
        .path()
        .join("storage")
        .join(format!("{}.qcow2", volume_stem_of(dir.path(), id)));
    let bitmap = format!("dpe-ckp-{}", next["id"]);
    let removed = Command::new("qemu-img")
        .args(["bitmap", "--remove"])
        .arg(&disk)
        .arg(&bitmap)
        .status()
        .unwrap();
    assert!(
        removed.success(),
        "qemu-img bitmap --remove {disk:?} {bitmap}"
    );
    let (status, body) = client.act(id, "start").await;
    assert_eq!(status, 202, "{body}");
    client
        .patient(Duration::from_secs(60))
        .wait_task(body["task_id"].as_i64().unwrap())
        .await;
    agent_answers(&uuid).await;
    let healed = real_backup(&client, id).await;
    assert_eq!(healed["kind"], "full", "{healed}");
    let reason = healed["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("refused") || reason.contains("missing"),
        "{healed}"
    );
    println!("after the bitmap was removed: {reason}");
    client.patient(Duration::from_secs(60)).remove(id).await;
}

/// The volume stem of instance `id` in the store in `data`.
fn volume_stem_of(data: &Path, id: i64) -> String {
    let conn = rusqlite::Connection::open(data.join("dpe.sqlite3")).unwrap();
    conn.query_row(
        "SELECT volume_stem FROM instances WHERE id = ?1",
        [id],
        |r| r.get(0),
    )
    .unwrap()
}

/// Whether a `qemu-img` process is writing the file at `target`: libvirt
/// copies a volume (`virStorageVolCreateXMLFrom`) with `qemu-img convert`.
fn copying_into(target: &Path) -> bool {
    let out = Command::new("pgrep")
        .args(["-af", "qemu-img convert"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|line| line.trim_end().ends_with(&*target.to_string_lossy()))
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a libvirtd in a private network namespace: scripts/test runs it"]
async fn kill_9_during_a_restore_over_the_instance_finishes_it_from_a_whole_copy() {
    let _serial = SERIAL.lock().await;
    let OwnDpe {
        dir,
        port,
        pool,
        dpe,
        client,
        id,
        uuid,
    } = own_dpe_with_a_guest("rkill", "rs-kill").await;
    // 400 MiB of random data and a page: the restore's copy takes long
    // enough to be cut off, and what comes back can be compared whole.
    let u = uuid.clone();
    let backed_up = tokio::task::spawn_blocking(move || {
        in_guest(
            &u,
            "dd if=/dev/urandom of=/dev/vda bs=1M seek=8 count=400 conv=fsync 2>/dev/null",
        );
        mark_disk(&u, 4096, "pageAA");
        in_guest(
            &u,
            "dd if=/dev/vda bs=1M count=408 2>/dev/null | sha256sum | head -c 64 >&2",
        )
    })
    .await
    .unwrap();
    let backup = real_backup(&client, id).await;
    let u = uuid.clone();
    tokio::task::spawn_blocking(move || mark_disk(&u, 4096, "later!"))
        .await
        .unwrap();

    let (status, body) = client
        .post(
            &format!("/api/v1/instances/{id}/restore"),
            json!({"backup_id": backup["id"]}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let restore_task = started_task(&body);
    let disk = dir
        .path()
        .join("storage")
        .join(format!("{}.qcow2", volume_stem_of(dir.path(), id)));
    let d = disk.clone();
    let cut = seen_within(2400, move || copying_into(&d)).await;
    assert!(cut, "the restore's copy into {disk:?} was seen running");
    drop(dpe); // SIGKILL mid-copy
    let d = disk.clone();
    let in_flight = tokio::task::spawn_blocking(move || copying_into(&d))
        .await
        .unwrap();
    println!("libvirtd still copying after the kill: {in_flight}");

    let dpe = spawn_dpe(dir.path(), port, &pool);
    wait_up(&dpe.base).await;
    let client = signed_in(&dpe.base).await;
    let task = client
        .patient(Duration::from_secs(300))
        .wait_task(restore_task)
        .await;
    assert_eq!(task["state"], "succeeded", "{task}");
    agent_answers(&uuid).await;
    let u = uuid.clone();
    let (page, restored) = tokio::task::spawn_blocking(move || {
        (
            read_disk(&u, 4096),
            in_guest(
                &u,
                "dd if=/dev/vda bs=1M count=408 2>/dev/null | sha256sum | head -c 64 >&2",
            ),
        )
    })
    .await
    .unwrap();
    assert_eq!(page, "pageAA", "the backup's page is back");
    assert_eq!(restored, backed_up, "the disk is the backup's, whole");
    // The disk it replaced is kept, once, as a snapshot.
    let (_, snapshots) = client
        .get(&format!("/api/v1/instances/{id}/snapshots"))
        .await;
    let kept: Vec<&Value> = snapshots["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "disk_copy")
        .collect();
    assert_eq!(kept.len(), 1, "{snapshots}");
    assert_eq!(kept[0]["state"], "ready", "{snapshots}");
    client.patient(Duration::from_secs(60)).remove(id).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a libvirtd in a private network namespace: scripts/test runs it"]
async fn a_real_backup_into_a_full_store_fails_saying_so_and_the_earlier_one_stays_sound() {
    let _serial = SERIAL.lock().await;
    // Its data folder and process live as long as the test.
    let OwnDpe {
        dir: _dir,
        dpe: _dpe,
        client,
        id,
        uuid,
        ..
    } = own_dpe_with_a_guest("full", "bk-full").await;

    // The backup store on a disk of 48 MiB: the first backup fits, the
    // next, after 100 MiB of new data, cannot.
    let disk = common::tmpfs::Tmpfs::mount("48m");
    let store = disk.path().join("backups");
    let (status, body) = client
        .put(
            "/api/v1/backup-store",
            json!({"kind": "directory", "path": store.to_str().unwrap()}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let kept = real_backup(&client, id).await;
    assert_eq!(kept["state"], "ready", "{kept}");
    let u = uuid.clone();
    tokio::task::spawn_blocking(move || {
        in_guest(
            &u,
            "dd if=/dev/urandom of=/dev/vda bs=1M seek=8 count=100 conv=fsync 2>/dev/null",
        )
    })
    .await
    .unwrap();
    let (status, body) = client
        .post_empty(&format!("/api/v1/instances/{id}/backups"))
        .await;
    assert_eq!(status, 202, "{body}");
    let refused = Accepted::of(&body);
    let task = client
        .patient(Duration::from_secs(300))
        .wait_task(refused.task_id)
        .await;
    assert_eq!(task["state"], "failed", "{task}");
    let error = task["error"].as_str().unwrap_or_default();
    assert!(error.contains("backup store is full"), "{task}");
    println!("the full store's answer: {error}");

    let (_, list) = client.get("/api/v1/backups").await;
    let of = |bid: &Value| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|b| &b["id"] == bid)
            .cloned()
            .unwrap()
    };
    assert_eq!(of(&json!(refused.id))["state"], "failed");
    assert_eq!(of(&kept["id"])["state"], "ready");
    let half = store.join(format!("dpe-backup-{uuid}-{}.qcow2", refused.id));
    assert!(!half.exists(), "no half backup is left: {half:?}");
    let u = uuid.clone();
    assert!(
        !tokio::task::spawn_blocking(move || job_runs(&u))
            .await
            .unwrap(),
        "no libvirt job is left"
    );
    let (status, verified) = client
        .post_empty(&format!("/api/v1/backups/{}/verify", kept["id"]))
        .await;
    assert_eq!(status, 200, "{verified}");
    assert_eq!(verified["damaged"], false, "{verified}");
    let (_, inst) = client.instance(id).await;
    assert_eq!(inst["state"], "running", "{inst}");
    client.patient(Duration::from_secs(60)).remove(id).await;
}

/// What the guest's kernel sees: its memory (MemTotal, KiB) and the size
/// of its disk (bytes).
async fn seen_by_the_guest(uuid: &str) -> (u64, u64) {
    let u = uuid.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        in_guest(
            &u,
            "awk '/^MemTotal:/ { print $2 }' /proc/meminfo >&2; blockdev --getsize64 /dev/vda >&2",
        )
    })
    .await
    .unwrap();
    let mut lines = out.lines().map(|l| l.trim().parse::<u64>().unwrap());
    (lines.next().unwrap(), lines.next().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a libvirtd in a private network namespace: scripts/test runs it"]
async fn a_real_guest_sees_its_new_memory_after_a_resize_and_a_disk_grown_while_it_runs() {
    let _serial = SERIAL.lock().await;
    let (app, client) = on_the_sandboxs_libvirtd().await;
    let (id, uuid) = deployed_tiny_guest(&app, &client, "resize-1").await;
    guest_boots_from_its_seed(&app, &uuid, "resize-1").await;
    agent_answers(&uuid).await;
    let (memory_kib, disk) = seen_by_the_guest(&uuid).await;
    assert!(memory_kib < 256 * 1024, "{memory_kib} KiB");
    assert_eq!(disk, 1 << 30);

    // Memory and vCPUs: a reboot, the disk grown while it is off.
    let resize = |size: &'static str| {
        let client = &client;
        async move {
            let started = Instant::now();
            let (status, body) = client
                .post(
                    &format!("/api/v1/instances/{id}/resize"),
                    json!({ "size": size }),
                )
                .await;
            assert_eq!(status, 202, "{body}");
            let task = client
                .patient(Duration::from_secs(240))
                .wait_task(body["task_id"].as_i64().unwrap())
                .await;
            assert_eq!(task["state"], "succeeded", "{task}");
            println!("resize to {size}: {:?}", started.elapsed());
        }
    };
    resize("roomy").await;
    agent_answers(&uuid).await;
    let (memory_kib, disk) = seen_by_the_guest(&uuid).await;
    assert!(
        memory_kib > 300 * 1024 && memory_kib <= 384 * 1024,
        "{memory_kib} KiB"
    );
    assert_eq!(disk, 2 << 30);
    let u = uuid.clone();
    let cpus = tokio::task::spawn_blocking(move || in_guest(&u, "nproc >&2"))
        .await
        .unwrap();
    assert_eq!(cpus.trim(), "2");

    // The disk alone: grown under the running guest, which keeps running
    // (a mark in its memory-backed /run stays) and sees the new size.
    let u = uuid.clone();
    tokio::task::spawn_blocking(move || in_guest(&u, "echo before > /run/kept"))
        .await
        .unwrap();
    resize("wide").await;
    let (memory_after, disk) = seen_by_the_guest(&uuid).await;
    assert_eq!(disk, 3 << 30);
    assert_eq!(memory_after, memory_kib, "no reboot");
    let u = uuid.clone();
    let kept = tokio::task::spawn_blocking(move || in_guest(&u, "cat /run/kept /run/grown-to >&2"))
        .await
        .unwrap();
    assert_eq!(kept, format!("before\n{}\n", 3u64 << 30), "no reboot");

    // Back down is a shrink of the disk: refused, nothing changed.
    let (status, body) = client
        .post(
            &format!("/api/v1/instances/{id}/resize"),
            json!({ "size": "tiny" }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    client.patient(Duration::from_secs(60)).remove(id).await;
    let (u, pool) = (uuid.clone(), app.storage_pool());
    assert_eq!(
        tokio::task::spawn_blocking(move || leftovers(&pool, &u))
            .await
            .unwrap(),
        (0, vec![])
    );
}
