//! The TestApp builder: a real router on a real port with a real SQLite file
//! in a temporary data directory, and a libvirt host from the test driver
//! (or, with `fake_hosts`, an in-memory host of the app's own).

#![allow(dead_code)] // each test binary uses a different part

pub mod client;
pub mod console_socket;
pub mod fake_console;
pub mod fake_host;
pub mod guest;
pub mod prometheus;
pub mod smtp;
pub mod tmpfs;

use reqwest::{Client, Response};
use serde_json::{Value, json};
use server::appliance::Appliance;
use server::clock::{Clock, ManualClock, SystemClock};
use server::config::Config;
use server::engine::connector::{Connector, LibvirtConnector};
use server::host_credentials::HostCredentials;
use server::store::Store;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tempfile::TempDir;

#[allow(unused_imports)] // each test binary uses a different part
pub use client::{Accepted, Api, started_task, status_json};
use fake_host::{FakeConnector, FakeHost};
use tokio::task::JoinHandle;

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "violet-Tractor-91-mango";
pub const HOST_URI: &str = "test:///default";
/// The password of the accounts `user_client` makes.
pub const USER_PASSWORD: &str = "Long-Enough-Pass-42";

pub struct TestAppBuilder {
    set_up: bool,
    per_account: u32,
    per_address: u32,
    data_dir: Option<TempDir>,
    host_uri: String,
    image_dir: Option<PathBuf>,
    stack_dir: PathBuf,
    secure_cookies: bool,
    session_max_hours: u32,
    directory_recheck_minutes: u32,
    reconcile_interval_ms: u64,
    drill_timeout_secs: u64,
    fake: Option<Arc<FakeConnector>>,
    /// The storage pool: a new one of its own unless restarted.
    storage_pool: Option<String>,
    clock: Option<Arc<ManualClock>>,
}

impl TestAppBuilder {
    /// Leases run by `clock`, which the test moves on (kept across a
    /// restart).
    pub fn clock(mut self, clock: Arc<ManualClock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The engine's hosts are in-memory fakes of this app's own, which
    /// tests can make fail (setup still probes the URI through libvirt).
    pub fn fake_hosts(self) -> Self {
        self.fake_connector(Arc::new(FakeConnector::default()))
    }

    fn fake_connector(mut self, connector: Arc<FakeConnector>) -> Self {
        self.fake = Some(connector);
        self
    }

    /// Completes setup (admin `ADMIN`, host `HOST_URI`) before returning.
    pub fn set_up(mut self) -> Self {
        self.set_up = true;
        self
    }

    /// Sign-in attempts a minute, per account and per address.
    pub fn sign_in_limits(mut self, per_account: u32, per_address: u32) -> Self {
        self.per_account = per_account;
        self.per_address = per_address;
        self
    }

    /// The first host (default: libvirt's test driver).
    pub fn host_uri(mut self, uri: &str) -> Self {
        self.host_uri = uri.to_owned();
        self
    }

    /// A session's lifetime from sign-in (default: the product's).
    pub fn session_max_hours(mut self, hours: u32) -> Self {
        self.session_max_hours = hours;
        self
    }

    /// How long the directory's word on an account holds (0: a token of a
    /// directory account asks again at every use).
    pub fn directory_recheck_minutes(mut self, minutes: u32) -> Self {
        self.directory_recheck_minutes = minutes;
        self
    }

    /// Cookies as behind HTTPS.
    pub fn secure_cookies(mut self) -> Self {
        self.secure_cookies = true;
        self
    }

    /// The stack's folder (default: the small test stack in tests/fixtures).
    pub fn stack_dir(mut self, dir: PathBuf) -> Self {
        self.stack_dir = dir;
        self
    }

    /// The test stack with a warm pool (`tests/fixtures/warm-stack`): it
    /// keeps one `tiny` member unless a test sets other targets.
    pub fn warm_stack(self) -> Self {
        self.stack_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/warm-stack"))
    }

    /// How often the reconciler makes its pass (default 200 ms).
    pub fn reconcile_every(mut self, interval: std::time::Duration) -> Self {
        self.reconcile_interval_ms = u64::try_from(interval.as_millis()).unwrap();
        self
    }

    /// How long a restore drill's guest gets to answer (default 30 s).
    pub fn drill_timeout_secs(mut self, secs: u64) -> Self {
        self.drill_timeout_secs = secs;
        self
    }

    /// A built golden image (default: stand-in files for the test driver).
    pub fn image_dir(mut self, dir: PathBuf) -> Self {
        self.image_dir = Some(dir);
        self
    }

    fn reuse(mut self, dir: TempDir) -> Self {
        self.data_dir = Some(dir);
        self
    }

    pub async fn start(self) -> TestApp {
        let dir = match self.data_dir {
            Some(d) => d,
            None => tempfile::tempdir().expect("temp dir"),
        };
        // QEMU runs as libvirt-qemu: it must be able to reach the storage.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let images = match self.image_dir {
            Some(d) => d,
            None => {
                let images = dir.path().join("images");
                std::fs::create_dir_all(&images).unwrap();
                // The test driver never reads it: a qcow2 header is enough.
                std::fs::write(images.join("disk.qcow2"), b"QFI\xfb\0\0\0\x03").unwrap();
                std::fs::write(images.join("vmlinuz"), b"kernel").unwrap();
                std::fs::write(images.join("initrd.img"), b"initrd").unwrap();
                images
            }
        };
        let config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().to_owned(),
            site_dir: dir.path().join("site"),
            stack_dir: self.stack_dir.clone(),
            secure_cookies: self.secure_cookies,
            session_max_hours: self.session_max_hours,
            image_dir: images.clone(),
            reconcile_interval_ms: self.reconcile_interval_ms,
            // Readings every second: a test sees rates within seconds.
            usage_interval_ms: 1000,
            drill_timeout_secs: self.drill_timeout_secs,
            // Each test app has a pool of its own on the shared libvirtd.
            storage_pool: self.storage_pool.clone().unwrap_or_else(|| {
                format!("dpe-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
            }),
            sign_in_per_account: NonZeroU32::new(self.per_account).unwrap(),
            sign_in_per_address: NonZeroU32::new(self.per_address).unwrap(),
            allow_test_driver: true,
            directory_recheck_minutes: self.directory_recheck_minutes,
            // Notifications go nowhere but loopback in tests, and are
            // looked for often.
            notify_loopback_only: true,
            notify_interval_ms: 100,
            ..Config::default()
        };
        let store = Store::open(&config.store_path()).expect("store");
        let connector: Arc<dyn Connector> = match &self.fake {
            Some(connector) => connector.clone(),
            None => Arc::new(LibvirtConnector::new(HostCredentials::under(
                &config.data_dir,
            ))),
        };
        let clock: Arc<dyn Clock> = match &self.clock {
            Some(clock) => clock.clone(),
            None => Arc::new(SystemClock),
        };
        let appliance = Appliance::with_clock(store, config.clone(), connector, clock)
            .await
            .expect("appliance");
        let gateway = server::http::gateway_of(&appliance);
        let router = server::http::router(appliance.clone(), gateway);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        let app = TestApp {
            addr,
            dir,
            task,
            appliance,
            limits: (self.per_account, self.per_address),
            host_uri: self.host_uri.clone(),
            image_dir: images,
            stack_dir: self.stack_dir.clone(),
            fake: self.fake.clone(),
            clock: self.clock.clone(),
        };
        if self.set_up {
            let response = app.setup(&app.client(), app.setup_body()).await;
            assert_eq!(
                response.status(),
                201,
                "setup: {}",
                response.text().await.unwrap()
            );
        }
        app
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub dir: TempDir,
    task: JoinHandle<()>,
    pub appliance: Arc<Appliance>,
    limits: (u32, u32),
    host_uri: String,
    image_dir: PathBuf,
    stack_dir: PathBuf,
    fake: Option<Arc<FakeConnector>>,
    clock: Option<Arc<ManualClock>>,
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder {
            set_up: false,
            per_account: 100,
            per_address: 1000,
            data_dir: None,
            host_uri: HOST_URI.to_owned(),
            image_dir: None,
            stack_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stack"),
            secure_cookies: false,
            session_max_hours: Config::default().session_max_hours,
            directory_recheck_minutes: Config::default().directory_recheck_minutes,
            reconcile_interval_ms: 200,
            drill_timeout_secs: 30,
            fake: None,
            storage_pool: None,
            clock: None,
        }
    }

    /// The fake host at the app's host URI (with `fake_hosts` only).
    pub fn fake_host(&self) -> Arc<FakeHost> {
        self.fake
            .as_ref()
            .expect("the app was built with fake_hosts")
            .host(&self.host_uri)
    }

    /// Adds a second (third, …) fake host named `name` at `uri` (with
    /// `fake_hosts`), as the Hosts page would once it answers: its id and
    /// the fake.
    pub async fn add_fake_host(&self, name: &str, uri: &str) -> (i64, Arc<FakeHost>) {
        let (name, uri_owned) = (name.to_owned(), uri.to_owned());
        let dir = format!("/srv/dpe-{name}");
        let id = self
            .appliance
            .store
            .write(move |tx| server::store::hosts::insert(tx, &name, &uri_owned, &dir, "default"))
            .await
            .unwrap();
        self.appliance.engine.sync_hosts().await.unwrap();
        (id, self.fake_host_at(uri))
    }

    /// The fake host at `uri` (with `fake_hosts`).
    pub fn fake_host_at(&self, uri: &str) -> Arc<FakeHost> {
        self.fake
            .as_ref()
            .expect("the app was built with fake_hosts")
            .host(uri)
    }

    /// Stops this server and starts another on the same data directory.
    pub async fn restart(self) -> TestApp {
        self.restart_after(|| {}).await
    }

    /// Stops this server, runs `while_down` (a test moves its clock on),
    /// and starts another on the same data directory.
    pub async fn restart_after(self, while_down: impl FnOnce()) -> TestApp {
        let storage_pool = self.storage_pool();
        self.task.abort();
        let _ = self.task.await;
        // Its engine's loops end with it (they hold it weakly).
        drop(self.appliance);
        while_down();
        let (per_account, per_address) = self.limits;
        let mut builder = TestApp::builder();
        builder.storage_pool = Some(storage_pool);
        if let Some(connector) = self.fake {
            builder = builder.fake_connector(connector);
        }
        if let Some(clock) = self.clock {
            builder = builder.clock(clock);
        }
        builder
            .sign_in_limits(per_account, per_address)
            .host_uri(&self.host_uri)
            .image_dir(self.image_dir)
            .stack_dir(self.stack_dir)
            .reuse(self.dir)
            .start()
            .await
    }

    /// This appliance lost (stopped, its data gone), and a new one on the
    /// same hosts whose store is put back from `store` by `dpe
    /// restore-store`'s function.
    pub async fn lost_and_recovered(self, store: &Path) -> TestApp {
        let storage_pool = self.storage_pool();
        self.task.abort();
        let _ = self.task.await;
        let dir = tempfile::tempdir().expect("temp dir");
        let config = Config {
            data_dir: dir.path().to_owned(),
            ..Config::default()
        };
        server::commands::restore_store(&config, store, false).expect("restore the store");
        // The new appliance has the stack's image of its own.
        let images = dir.path().join("images");
        std::fs::create_dir_all(&images).unwrap();
        for entry in std::fs::read_dir(&self.image_dir).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), images.join(entry.file_name())).unwrap();
        }
        let (per_account, per_address) = self.limits;
        let mut builder = TestApp::builder();
        builder.storage_pool = Some(storage_pool);
        if let Some(connector) = self.fake {
            builder = builder.fake_connector(connector);
        }
        drop(self.appliance);
        builder
            .sign_in_limits(per_account, per_address)
            .host_uri(&self.host_uri)
            .image_dir(images)
            .stack_dir(self.stack_dir)
            .reuse(dir)
            .start()
            .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The stack's image directory (a test builds more versions in it).
    pub fn images(&self) -> &std::path::Path {
        &self.image_dir
    }

    pub fn storage_pool(&self) -> String {
        self.appliance.config.storage_pool.clone()
    }

    /// The name stem of instance `uuid`'s volumes (`STEM.qcow2`, …).
    pub fn volume_stem(&self, uuid: &str) -> String {
        format!("{}{uuid}", self.appliance.engine.volume_prefix())
    }

    pub fn data_path(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// A browser-like client: keeps cookies, does not follow redirects.
    pub fn client(&self) -> Client {
        client::browser_client()
    }

    /// A typed API client of this app, signed in as nobody yet.
    pub fn api(&self) -> Api {
        Api::browser(self.origin())
    }

    /// A typed API client signed in as `username` (the test fails if the
    /// sign-in does).
    pub async fn sign_in(&self, username: &str, password: &str) -> Api {
        self.api().signed_in(username, password).await
    }

    /// The setup code `dpe serve` made in the data directory (none once
    /// setup is complete).
    pub fn setup_code(&self) -> String {
        std::fs::read_to_string(server::auth::setup_code::path(self.dir.path()))
            .unwrap_or_default()
            .trim()
            .to_owned()
    }

    pub fn setup_body(&self) -> Value {
        json!({
            "setup_code": self.setup_code(),
            "appliance_name": "Physik <Labor> & \"Co\"'s 物理",
            "admin_username": ADMIN,
            "admin_password": ADMIN_PASSWORD,
            "host_uri": self.host_uri,
            "storage_dir": self.dir.path().join("storage"),
            "network": "default",
        })
    }

    pub async fn setup(&self, client: &Client, body: Value) -> Response {
        client
            .post(self.url("/api/v1/setup"))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn login(&self, client: &Client, username: &str, password: &str) -> Response {
        client
            .post(self.url("/api/v1/login"))
            .json(&json!({ "username": username, "password": password }))
            .send()
            .await
            .unwrap()
    }

    /// The UUID of instance `id`, from the store.
    pub async fn instance_uuid(&self, id: i64) -> String {
        self.appliance
            .store
            .read(move |c| server::store::instances::by_id(c, id))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no instance {id}"))
            .uuid
    }

    /// A new local account `username` with `password` and `role`, written
    /// to the store directly.
    pub async fn add_user(&self, username: &str, password: &str, role: app::model::Role) {
        let hash = server::auth::password::hash(password).unwrap();
        let name = username.to_owned();
        self.appliance
            .store
            .write(move |tx| server::store::users::insert(tx, &name, Some(&hash), role))
            .await
            .unwrap();
    }

    /// A new local account with `role`, and a client signed in as it.
    pub async fn user_client(&self, username: &str, role: app::model::Role) -> Api {
        self.add_user(username, USER_PASSWORD, role).await;
        self.sign_in(username, USER_PASSWORD).await
    }

    /// A client signed in as the admin.
    pub async fn admin(&self) -> Api {
        self.sign_in(ADMIN, ADMIN_PASSWORD).await
    }
}

/// The value of the session cookie in a Set-Cookie answer, if any.
pub fn session_cookie(response: &Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("dpe_session="))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

/// The entries of `dir` whose names contain `needle`.
pub fn entries_named(dir: &Path, needle: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(needle))
        .collect()
}

/// A tiny inside instance of the first account (the admin), as a test
/// writes one straight into the store: its UUID, NIC and volume names.
pub fn tiny_instance<'a>(
    uuid: &'a str,
    name: &'a str,
    mac: &'a str,
    volume_stem: &'a str,
) -> server::store::instances::NewInstance<'a> {
    server::store::instances::NewInstance {
        uuid,
        name,
        owner_id: 1,
        size: "tiny",
        vcpus: 1,
        memory_mib: 256,
        disk_gib: 1,
        network: "default",
        mac,
        params_json: "{}",
        health_expect: "",
        zone: app::model::NetworkZone::Inside,
        static_address: None,
        static_network: None,
        department_id: None,
        volume_stem,
        app_port: None,
        lease_expires_at: None,
    }
}

/// A copy of the fixture stack whose application listens on `port` (where
/// a test serves a stand-in for it).
pub fn stack_on(port: u16) -> TempDir {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stack");
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&fixture).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    let manifest = dir.path().join("manifest.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("port = 80", &format!("port = {port}")),
    )
    .unwrap();
    dir
}
