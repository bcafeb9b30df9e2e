//! The real `dpe` binary, as an operator runs it: serve, healthcheck, the
//! user commands, online backup, configuration errors, and HTTPS.

// A test reports failure by panicking; its helpers may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

#[path = "common/certificates.rs"]
mod certificates;
#[path = "common/client.rs"]
mod client;
#[allow(dead_code)] // the engine's tests use the rest
#[path = "common/smtp.rs"]
mod smtp;
#[path = "common/tmpfs.rs"]
mod tmpfs;

use client::Api;
use tmpfs::Tmpfs;

const DPE: &str = env!("CARGO_BIN_EXE_dpe");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn fixture_stack() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stack")
}

/// The dpe binary, without this process's DPE_* variables (dpe refuses
/// unknown ones).
fn command() -> Command {
    let mut command = Command::new(DPE);
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("DPE_")) {
        command.env_remove(key);
    }
    command
}

fn dpe(data_dir: &Path, args: &[&str]) -> Output {
    command()
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("DPE_CONFIG")
        .output()
        .unwrap()
}

fn dpe_with_stdin(data_dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = command()
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `dpe serve ARGS` on `data` with the fixture stack; killed when dropped.
fn serve(data: &Path, args: &[&str]) -> Server {
    serve_with(data, args, &[])
}

/// `serve`, with `env` (`DPE_*` settings) too.
fn serve_with(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
    Server(
        command()
            .envs(env.iter().copied())
            .arg("serve")
            .args(args)
            .arg("--data-dir")
            .arg(data)
            .env("DPE_STACK_DIR", fixture_stack())
            .env("DPE_IMAGE_DIR", data)
            .env("DPE_ALLOW_TEST_DRIVER", "true")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// The setup code `dpe serve` made in `data`.
fn setup_code(data: &Path) -> String {
    std::fs::read_to_string(data.join("setup-code"))
        .unwrap()
        .trim()
        .to_owned()
}

/// Whether `check` succeeds within ten seconds, tried every 100 ms.
fn within_ten_seconds(mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn serve_answers_healthcheck_and_cli_manages_users_and_backups() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/api/v1/health");

    // Nothing listens yet: the health check fails.
    let down = dpe(data, &["healthcheck", "--url", &url]);
    assert!(!down.status.success());
    assert!(text(&down).contains("no answer"), "{}", text(&down));

    let _server = serve(data, &["--listen", &format!("127.0.0.1:{port}")]);
    assert!(
        within_ten_seconds(|| dpe(data, &["healthcheck", "--url", &url]).status.success()),
        "dpe serve never became healthy"
    );
    // The data directory and the store are dpe's alone (QEMU's user may
    // pass through the directory to instance storage, not list it).
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(data), 0o711);
    for file in [
        "dpe.sqlite3",
        "dpe.sqlite3-wal",
        "dpe.sqlite3-shm",
        "setup-code",
    ] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }

    // Users, while the server runs.
    let weak = dpe_with_stdin(
        data,
        &["user", "add", "carol", "--password-stdin"],
        "carol\n",
    );
    assert!(!weak.status.success());
    assert!(text(&weak).contains("password refused"), "{}", text(&weak));
    let added = dpe_with_stdin(
        data,
        &[
            "user",
            "add",
            "Carol",
            "--role",
            "admin",
            "--password-stdin",
        ],
        "Quiet-Harbor-42-lamp\n",
    );
    assert!(added.status.success(), "{}", text(&added));
    let again = dpe_with_stdin(
        data,
        &["user", "add", "carol", "--password-stdin"],
        "Quiet-Harbor-42-lamp\n",
    );
    assert!(!again.status.success());
    assert!(text(&again).contains("already exists"), "{}", text(&again));
    let bad = dpe_with_stdin(
        data,
        &["user", "add", "<carol>", "--password-stdin"],
        "Quiet-Harbor-42-lamp\n",
    );
    assert!(!bad.status.success());
    assert!(text(&bad).contains("not allowed"), "{}", text(&bad));

    let passwd = dpe_with_stdin(
        data,
        &["user", "passwd", "carol", "--password-stdin"],
        "Other-Harbor-43-lamp\n",
    );
    assert!(passwd.status.success(), "{}", text(&passwd));
    let missing = dpe_with_stdin(
        data,
        &["user", "passwd", "nobody", "--password-stdin"],
        "Other-Harbor-43-lamp\n",
    );
    assert!(!missing.status.success());
    assert!(dpe(data, &["user", "disable", "carol"]).status.success());
    let list = dpe(data, &["user", "list"]);
    let listed = text(&list);
    assert!(
        listed.contains("carol") && listed.contains("admin") && listed.contains("disabled"),
        "{listed}"
    );
    // A table: the state column starts at the same place on every line.
    let state_at: Vec<_> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(|l| l.rfind(' ').map(|i| i + 1))
        .collect();
    assert!(
        state_at.len() == 2 && state_at.windows(2).all(|w| w[0] == w[1]),
        "{listed}"
    );

    // Online backup of the running store: a complete, readable copy.
    let backup = data.join("backup.sqlite3");
    let out = dpe(data, &["backup", backup.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let copy = rusqlite::Connection::open(&backup).unwrap();
    let users: i64 = copy
        .query_row(
            "SELECT count(*) FROM users WHERE username = 'carol'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(users, 1);
    let refused = dpe(data, &["backup", backup.to_str().unwrap()]);
    assert!(
        !refused.status.success(),
        "an existing file is not overwritten"
    );
    assert!(text(&refused).contains("--force"));
}

#[test]
fn configuration_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("dpe.toml");
    std::fs::write(&config, "listne = \"127.0.0.1:1\"\n").unwrap();
    let out = command()
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("unknown field") && text(&out).contains("listne"),
        "{}",
        text(&out)
    );

    let out = command()
        .args(["user", "list", "--data-dir"])
        .arg(dir.path())
        .env("DPE_SECURE_COOKIES", "maybe")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).to_lowercase().contains("secure_cookies"),
        "{}",
        text(&out)
    );
}

/// `dpe serve` over HTTPS, with a plain-HTTP listener that redirects;
/// stopped when dropped.
struct Https {
    dir: tempfile::TempDir,
    ca: std::path::PathBuf,
    config: std::path::PathBuf,
    port: u16,
    plain: u16,
    _server: Server,
}

impl Https {
    /// Starts it, and waits until the health check finds it (from the
    /// same config).
    fn start() -> Https {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let certificates::Certificates { ca, cert, key } = certificates::make(data);
        let (port, plain) = (free_port(), free_port());
        let config = data.join("dpe.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:{port}\"\ntls_cert = {cert:?}\ntls_key = {key:?}\n\
                 redirect_listen = \"127.0.0.1:{plain}\"\n"
            ),
        )
        .unwrap();
        let server = serve(data, &["--config", config.to_str().unwrap()]);
        assert!(
            within_ten_seconds(|| {
                command()
                    .args(["healthcheck", "--config"])
                    .arg(&config)
                    .output()
                    .unwrap()
                    .status
                    .success()
            }),
            "dpe never answered over HTTPS"
        );
        Https {
            dir,
            ca,
            config,
            port,
            plain,
            _server: server,
        }
    }

    fn data(&self) -> &Path {
        self.dir.path()
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    /// A client that trusts the test CA (HTTP/2, as browsers speak it).
    fn client(&self) -> reqwest::ClientBuilder {
        let ca = std::fs::read(&self.ca).unwrap();
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
    }

    /// `POST /api/v1/setup` with the setup code, from `origin`.
    async fn setup(&self, origin: String) -> reqwest::Response {
        self.client()
            .build()
            .unwrap()
            .post(self.url("/api/v1/setup"))
            .header("origin", origin)
            .json(&serde_json::json!({
                "setup_code": setup_code(self.data()),
                "appliance_name": "Over h2",
                "admin_username": "admin",
                "admin_password": "violet-Tractor-91-mango",
                "host_uri": "test:///default",
                "storage_dir": self.data().join("storage"),
            }))
            .send()
            .await
            .unwrap()
    }

    /// What `dpe setup-code` prints.
    fn print_setup_code(&self) -> String {
        let printed = command()
            .args(["setup-code", "--config"])
            .arg(&self.config)
            .arg("--data-dir")
            .arg(self.data())
            .output()
            .unwrap();
        assert!(printed.status.success(), "{}", text(&printed));
        String::from_utf8_lossy(&printed.stdout).into_owned()
    }
}

#[test]
fn over_https_the_portal_answers_and_plain_http_is_redirected() {
    let https = Https::start();
    let port = https.port;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let trusted = https
            .client()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let health = trusted
            .get(https.url("/api/v1/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
        // Before setup, pages lead to the wizard, over HTTPS too.
        let r = trusted.get(https.url("/login")).send().await.unwrap();
        assert_eq!(r.status(), 303, "pages lead to the wizard before setup");
        // Plain HTTP answers with a permanent redirect to the same path.
        let r = trusted
            .get(format!("http://localhost:{}/instances?x=1", https.plain))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 308);
        assert_eq!(
            r.headers()["location"],
            format!("https://localhost:{port}/instances?x=1").as_str()
        );
        // A client that does not trust the CA is refused.
        let untrusting = reqwest::Client::new();
        assert!(
            untrusting
                .get(https.url("/api/v1/health"))
                .send()
                .await
                .is_err()
        );
    });
}

/// Browsers speak HTTP/2 over TLS, where requests carry :authority and no
/// Host: a form posted from the portal's own page is still its own, and
/// one from any other origin is refused.
#[test]
fn over_http2_only_the_portals_own_origin_completes_setup_with_the_printed_code() {
    let https = Https::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        for other in [
            format!("https://localhost:{}", https.plain),
            format!("http://localhost:{}", https.port),
            "https://evil.example".to_owned(),
        ] {
            let r = https.setup(other.clone()).await;
            assert_eq!(r.version(), reqwest::Version::HTTP_2);
            assert_eq!(r.status(), 403, "a post from {other}");
        }
        // `dpe setup-code` prints the code the wizard asks for...
        assert_eq!(https.print_setup_code().trim(), setup_code(https.data()));
        let r = https.setup(https.url("")).await;
        assert_eq!(r.version(), reqwest::Version::HTTP_2);
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        // ...and nothing once setup is complete.
        assert_eq!(https.print_setup_code(), "");
    });
}

#[test]
fn over_https_a_new_password_from_the_cli_ends_sessions_and_api_tokens() {
    let https = Https::start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        assert_eq!(https.setup(https.url("")).await.status(), 201);
        let browser = https.client().cookie_store(true).build().unwrap();
        let session = Api::new(browser, https.url(""))
            .signed_in("admin", "violet-Tractor-91-mango")
            .await;
        let token = session.create_token("ci").await;
        let by_token = Api::new(https.client().build().unwrap(), https.url("")).bearer(&token);
        assert_eq!(session.me().await.0, 200);
        assert_eq!(by_token.me().await.0, 200);
        let passwd = dpe_with_stdin(
            https.data(),
            &["user", "passwd", "admin", "--password-stdin"],
            "Other-Harbor-43-lamp\n",
        );
        assert!(passwd.status.success(), "{}", text(&passwd));
        assert_eq!(session.me().await.0, 401);
        assert_eq!(by_token.me().await.0, 401);
    });
}

#[test]
fn half_a_tls_configuration_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let certificates::Certificates { cert, .. } = certificates::make(dir.path());
    let config = dir.path().join("dpe.toml");
    std::fs::write(&config, format!("tls_cert = {cert:?}\n")).unwrap();
    let out = command()
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("tls_cert and tls_key go together"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_full_data_disk_refuses_writes_with_507_and_loses_nothing() {
    let disk = Tmpfs::mount("64m");
    let data = disk.path().join("data");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _server = serve(&data, &["--listen", &format!("127.0.0.1:{port}")]);
    let health = format!("{base}/api/v1/health");
    assert!(
        within_ten_seconds(|| dpe(&data, &["healthcheck", "--url", &health])
            .status
            .success()),
        "dpe serve never became healthy"
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let api = Api::browser(&base);
        let (status, body) = api
            .post(
                "/api/v1/setup",
                serde_json::json!({
                    "setup_code": setup_code(&data),
                    "appliance_name": "Full",
                    "admin_username": "admin",
                    "admin_password": "violet-Tractor-91-mango",
                    "host_uri": "test:///default",
                    "storage_dir": data.join("storage"),
                }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let admin = api.signed_in("admin", "violet-Tractor-91-mango").await;
        admin.deployed("before").await;

        disk.fill(&disk.path().join("filler"));
        // Writes go on while SQLite's log has room it took before, then
        // one is refused whole: 507, saying which disk.
        let mut made = 0;
        let refused = loop {
            let (status, body) = admin
                .post(
                    "/api/v1/tokens",
                    serde_json::json!({"name": format!("token {made}")}),
                )
                .await;
            match status {
                201 => made += 1,
                507 => break body,
                other => panic!("token {made}: {other} {body}"),
            }
            assert!(made < 5000, "the full disk never refused a write");
        };
        assert_eq!(refused["error"], "storage_full", "{refused}");
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .starts_with("the appliance's data disk is full"),
            "{refused}"
        );
        let (status, body) = admin.deploy("during").await;
        assert_eq!(status, 507, "{body}");
        assert_eq!(body["error"], "storage_full");

        // Space again: the same requests succeed, and what was there is.
        std::fs::remove_file(disk.path().join("filler")).unwrap();
        admin.deployed("after").await;
        let (_, list) = admin.instances().await;
        let mut names: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|i| i["name"].as_str())
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["after", "before"]);
        let (_, tokens) = admin.get("/api/v1/tokens?limit=100").await;
        let listed = tokens.as_array().map_or(0, Vec::len);
        assert_eq!(listed, made.min(100), "{tokens}");
    });
    let check = rusqlite::Connection::open(data.join("dpe.sqlite3"))
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn mail_reaches_the_smtp_server_exactly_once_across_a_kill_9_of_dpe() {
    let sink = smtp::SmtpSink::start(None);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_owned();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let health = format!("{base}/api/v1/health");
    // Retries a second apart, so the test need not wait for minutes.
    let env = [
        ("DPE_NOTIFY_LOOPBACK_ONLY", "true"),
        ("DPE_NOTIFY_RETRY_SECS", "1"),
        ("DPE_NOTIFY_INTERVAL_MS", "100"),
    ];
    let listen = format!("127.0.0.1:{port}");
    // Stand-in image files (the image directory is the data directory):
    // the test driver never reads them.
    std::fs::write(data.join("disk.qcow2"), b"QFI\xfb\0\0\0\x03").unwrap();
    std::fs::write(data.join("vmlinuz"), b"kernel").unwrap();
    std::fs::write(data.join("initrd.img"), b"initrd").unwrap();
    let start = || {
        let server = serve_with(&data, &["--listen", &listen], &env);
        assert!(
            within_ten_seconds(|| dpe(&data, &["healthcheck", "--url", &health])
                .status
                .success()),
            "dpe serve never became healthy"
        );
        server
    };
    let server = start();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let admin = runtime.block_on(async {
        let api = Api::browser(&base);
        let (status, body) = api
            .post(
                "/api/v1/setup",
                serde_json::json!({
                    "setup_code": setup_code(&data),
                    "appliance_name": "Mailing",
                    "admin_username": "admin",
                    "admin_password": "violet-Tractor-91-mango",
                    "host_uri": "test:///default",
                    "storage_dir": data.join("storage"),
                }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let admin = api.signed_in("admin", "violet-Tractor-91-mango").await;
        let (status, body) = admin
            .put(
                "/api/v1/me/notification-preferences",
                serde_json::json!({"email": "admin@example.org", "kinds": ["deploy_succeeded"]}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let (status, body) = admin
            .put(
                "/api/v1/notifications/smtp",
                serde_json::json!({"host": "127.0.0.1", "port": sink.port, "security": "none",
                    "username": null, "from": "dpe@example.org"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let first = admin.deployed("first").await;
        let task = admin.wait_task(first.task_id).await;
        assert_eq!(task["state"], "succeeded", "{task}");
        admin
    });
    assert_eq!(sink.wait_for(1, 10).len(), 1, "the first mail");

    // The mail server goes away: two more deploys' mails fail and wait
    // for their retry when dpe is killed.
    let down = sink.stop();
    runtime.block_on(async {
        for name in ["second", "third"] {
            let accepted = admin.deployed(name).await;
            assert_eq!(
                admin.wait_task(accepted.task_id).await["state"],
                "succeeded"
            );
        }
        for _ in 0..100 {
            let (_, pending) = admin
                .get("/api/v1/notifications/deliveries?state=pending")
                .await;
            let tried = pending
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["attempts"].as_u64() >= Some(1))
                .count();
            if tried == 2 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the mails were never tried");
    });
    drop(server); // SIGKILL
    let sink = smtp::SmtpSink::restart(down);
    let _server = start();
    sink.wait_for(3, 30);
    // Anything sent twice would come now.
    std::thread::sleep(Duration::from_secs(3));
    let received = sink.received();
    assert_eq!(received.len(), 3, "{received:?}");
    let mut subjects: Vec<_> = received
        .iter()
        .map(|m| m["subject"].as_str().unwrap().to_owned())
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        [
            "[Mailing] Deploy succeeded: first",
            "[Mailing] Deploy succeeded: second",
            "[Mailing] Deploy succeeded: third",
        ]
    );
    let mut ids: Vec<_> = received.iter().map(|m| m["message_id"].clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 3, "{received:?}");
    assert!(
        received
            .iter()
            .all(|m| m["rcpt_tos"][0] == "admin@example.org")
    );
}
