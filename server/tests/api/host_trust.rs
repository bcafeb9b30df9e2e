//! What a remote host needs to trust dpe, over the API: dpe's own CA and
//! SSH key, server certificates, and the pinned host key an ssh host
//! must be added with. Real transports: `server/tests/hosts.rs`.

use serde_json::json;

use crate::common::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_sees_dpes_own_ca_and_ssh_key_and_gets_a_host_certificate_once_audited() {
    let app = TestApp::builder().set_up().start().await;
    let api = app.admin().await;
    let (status, credentials) = api.get("/api/v1/hosts/credentials").await;
    assert_eq!(status, 200, "{credentials}");
    let ca = credentials["ca_certificate_pem"].as_str().unwrap();
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"), "{ca}");
    assert!(
        credentials["ssh_public_key"]
            .as_str()
            .unwrap()
            .starts_with("ssh-ed25519 "),
        "{credentials}"
    );
    // Kept in the data dir, not libvirt's defaults.
    assert!(
        app.data_path()
            .join("host-credentials/ssh/id_ed25519")
            .exists()
    );

    let (status, bundle) = api
        .post(
            "/api/v1/hosts/server-certificate",
            json!({"host": "kvm2.example.org"}),
        )
        .await;
    assert_eq!(status, 201, "{bundle}");
    let paths: Vec<&str> = bundle["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/etc/pki/CA/cacert.pem",
            "/etc/pki/libvirt/servercert.pem",
            "/etc/pki/libvirt/private/serverkey.pem"
        ]
    );
    assert_eq!(bundle["files"][0]["contents"], ca);
    assert_eq!(bundle["files"][2]["mode"], "0600");
    assert!(bundle["steps"].to_string().contains("listen_tls = 1"));
    let (_, audit) = api.get("/api/v1/audit").await;
    assert!(
        audit.to_string().contains("host.server_certificate"),
        "{audit}"
    );

    for bad in ["", "kvm 2", "a/b", "-x"] {
        let (status, body) = api
            .post("/api/v1/hosts/server-certificate", json!({"host": bad}))
            .await;
        assert_eq!(
            (status, body["field"].as_str()),
            (422, Some("host")),
            "{bad:?}: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ssh_host_is_added_only_with_a_host_key_to_pin_and_no_uri_carries_credentials() {
    let app = TestApp::builder().set_up().start().await;
    let api = app.admin().await;
    let host = |uri: &str, key: Option<&str>| json!({"uri": uri, "storage_dir": "/srv/dpe", "network": "default", "ssh_host_key": key});
    let cases = [
        (
            host("qemu+ssh://root@127.0.0.1/system", None),
            "ssh_host_key",
        ),
        (
            host("qemu+ssh://root@127.0.0.1/system", Some("not a key")),
            "ssh_host_key",
        ),
        (
            host(
                "test:///default",
                Some(
                    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHb+0pP9X1jSx1KM2MFBf1ZzBnxMkq6qvJvWnJ1Zo6Gk",
                ),
            ),
            "ssh_host_key",
        ),
        (host("qemu+ssh://127.0.0.1/system?no_verify=1", None), "uri"),
        (
            host("qemu+tls://127.0.0.1/system?pkipath=/tmp", None),
            "uri",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = api.post("/api/v1/hosts", body.clone()).await;
        assert_eq!(
            (status, answer["field"].as_str()),
            (422, Some(field)),
            "{body}: {answer}"
        );
    }
    let (_, hosts) = api.get("/api/v1/hosts").await;
    assert_eq!(hosts.as_array().map(Vec::len), Some(1), "{hosts}");
}
