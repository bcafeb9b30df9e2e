//! The real `dpe` binary, as an operator runs it: serve, healthcheck, the
//! user commands, online backup and configuration errors.

// A test reports failure by panicking; its helpers may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

#[path = "common/certificates.rs"]
mod certificates;

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
    Server(
        command()
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

#[test]
fn over_https_the_portal_answers_and_plain_http_is_redirected() {
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
    let _server = serve(data, &["--config", config.to_str().unwrap()]);
    // The health check finds the HTTPS listener from the same config.
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

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let trusted = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap(),
            )
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let health = trusted
            .get(format!("https://localhost:{port}/api/v1/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
        // Before setup, pages lead to the wizard, over HTTPS too.
        let r = trusted
            .get(format!("https://localhost:{port}/login"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "pages lead to the wizard before setup");
        // Plain HTTP answers with a permanent redirect to the same path.
        let r = trusted
            .get(format!("http://localhost:{plain}/instances?x=1"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 308);
        assert_eq!(
            r.headers()["location"],
            format!("https://localhost:{port}/instances?x=1").as_str()
        );
        // Browsers speak HTTP/2 over TLS, where requests carry :authority
        // and no Host: a form posted from the portal's own page is still
        // its own, and one from any other origin is refused.
        let h2 = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap(),
            )
            .build()
            .unwrap();
        let setup = |origin: String| {
            h2.post(format!("https://localhost:{port}/api/v1/setup"))
                .header("origin", origin)
                .json(&serde_json::json!({
                    "setup_code": setup_code(data),
                    "appliance_name": "Over h2",
                    "admin_username": "admin",
                    "admin_password": "violet-Tractor-91-mango",
                    "host_uri": "test:///default",
                    "storage_dir": data.join("storage"),
                }))
                .send()
        };
        for other in [
            format!("https://localhost:{plain}"),
            format!("http://localhost:{port}"),
            "https://evil.example".to_owned(),
        ] {
            let r = setup(other.clone()).await.unwrap();
            assert_eq!(r.version(), reqwest::Version::HTTP_2);
            assert_eq!(r.status(), 403, "a post from {other}");
        }
        // `dpe setup-code` prints the code the wizard asks for...
        let print_setup_code = || {
            let printed = command()
                .args(["setup-code", "--config"])
                .arg(&config)
                .arg("--data-dir")
                .arg(data)
                .output()
                .unwrap();
            assert!(printed.status.success(), "{}", text(&printed));
            printed
        };
        let printed = print_setup_code();
        assert_eq!(
            String::from_utf8_lossy(&printed.stdout).trim(),
            setup_code(data)
        );
        let r = setup(format!("https://localhost:{port}")).await.unwrap();
        assert_eq!(r.version(), reqwest::Version::HTTP_2);
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        // ...and nothing once setup is complete.
        let printed = print_setup_code();
        assert_eq!(String::from_utf8_lossy(&printed.stdout), "");

        // A new password ends the account's sessions and API tokens.
        let browser = reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap(),
            )
            .cookie_store(true)
            .build()
            .unwrap();
        let base = format!("https://localhost:{port}/api/v1");
        let r = browser
            .post(format!("{base}/login"))
            .json(&serde_json::json!({"username": "admin", "password": "violet-Tractor-91-mango"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let token: serde_json::Value = browser
            .post(format!("{base}/tokens"))
            .json(&serde_json::json!({"name": "ci"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = token["token"].as_str().unwrap().to_owned();
        let me_by_token = || h2.get(format!("{base}/me")).bearer_auth(&token).send();
        let me_by_session = || browser.get(format!("{base}/me")).send();
        assert_eq!(me_by_session().await.unwrap().status(), 200);
        assert_eq!(me_by_token().await.unwrap().status(), 200);
        let passwd = dpe_with_stdin(
            data,
            &["user", "passwd", "admin", "--password-stdin"],
            "Other-Harbor-43-lamp\n",
        );
        assert!(passwd.status.success(), "{}", text(&passwd));
        assert_eq!(me_by_session().await.unwrap().status(), 401);
        assert_eq!(me_by_token().await.unwrap().status(), 401);

        // A client that does not trust the CA is refused.
        let untrusting = reqwest::Client::new();
        assert!(
            untrusting
                .get(format!("https://localhost:{port}/api/v1/health"))
                .send()
                .await
                .is_err()
        );
    });

    // Half a TLS configuration is a clear error.
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
