use super::*;

fn credentials() -> (tempfile::TempDir, HostCredentials) {
    let dir = tempfile::tempdir().unwrap();
    let credentials = HostCredentials::under(dir.path());
    credentials.ensure().unwrap();
    (dir, credentials)
}

#[test]
fn remote_uris_are_opened_with_dpes_own_credentials_and_local_ones_as_they_are() {
    let (_dir, credentials) = credentials();
    let pki = credentials.pki_dir().display().to_string();
    assert_eq!(
        credentials.open_uri("qemu+tls://kvm2.example.org/system"),
        format!("qemu+tls://kvm2.example.org/system?pkipath={pki}")
    );
    let ssh = credentials.open_uri("qemu+ssh://root@kvm3:2222/system");
    assert!(
        ssh.starts_with("qemu+libssh2://root@kvm3:2222/system?keyfile="),
        "{ssh}"
    );
    assert!(ssh.contains("&known_hosts_verify=normal"), "{ssh}");
    assert!(!ssh.contains("no_verify"), "{ssh}");
    for local in ["qemu:///system", "test:///default"] {
        assert_eq!(credentials.open_uri(local), local);
    }
    let odd = HostCredentials::under(Path::new("/var/lib/d pe&x"));
    assert!(
        odd.open_uri("qemu+tls://h/system")
            .ends_with("/var/lib/d%20pe%26x/host-credentials/pki"),
        "{}",
        odd.open_uri("qemu+tls://h/system")
    );
}

#[test]
fn the_known_hosts_name_of_an_ssh_uri_carries_its_port_only_off_22() {
    assert_eq!(
        pin_target("qemu+ssh://kvm3/system").as_deref(),
        Some("kvm3")
    );
    assert_eq!(
        pin_target("qemu+ssh://root@kvm3:22/system").as_deref(),
        Some("kvm3")
    );
    assert_eq!(
        pin_target("qemu+libssh://root@198.18.0.3:2222/system").as_deref(),
        Some("[198.18.0.3]:2222")
    );
    assert_eq!(
        pin_target("qemu+ssh://[fd00::3]:2222/system").as_deref(),
        Some("[fd00::3]:2222")
    );
    assert_eq!(pin_target("qemu+tls://kvm2/system"), None);
}

#[test]
fn credentials_are_made_once_and_kept_and_keys_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let (_dir, credentials) = credentials();
    let ca = credentials.ca_certificate().unwrap();
    let ssh = credentials.ssh_public_key().unwrap();
    assert!(ssh.starts_with("ssh-ed25519 "), "{ssh}");
    credentials.ensure().unwrap();
    assert_eq!(credentials.ca_certificate().unwrap(), ca);
    assert_eq!(credentials.ssh_public_key().unwrap(), ssh);
    for key in [
        credentials.ssh_key_path(),
        credentials.ca_key_path(),
        credentials.pki_dir().join("clientkey.pem"),
    ] {
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} is readable by others", key.display());
    }
}

/// What x509-parser reads of a PEM certificate.
fn parsed(pem: &str) -> (String, String, Vec<String>, bool) {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    let cert = pem.parse_x509().unwrap();
    let names = cert
        .subject_alternative_name()
        .unwrap()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .map(|n| n.to_string())
                .collect()
        })
        .unwrap_or_default();
    (
        cert.subject().to_string(),
        cert.issuer().to_string(),
        names,
        cert.verify_signature(None).is_ok(),
    )
}

#[test]
fn server_certificates_name_the_host_and_are_signed_by_dpes_ca() {
    let (_dir, credentials) = credentials();
    let ca_pem = credentials.ca_certificate().unwrap();
    let (ca_subject, _, _, self_signed) = parsed(&ca_pem);
    assert!(self_signed && ca_subject.contains("dpe host CA"));
    let (_, ca) = x509_parser::pem::parse_x509_pem(ca_pem.as_bytes()).unwrap();
    let ca = ca.parse_x509().unwrap();
    for (name, san) in [
        ("kvm2.example.org", "DNSName(kvm2.example.org)"),
        ("198.18.0.2", "IPAddress(c6:12:00:02)"),
    ] {
        let issued = credentials.issue_server_certificate(name).unwrap();
        assert_eq!(issued.ca_certificate_pem, ca_pem);
        let (subject, issuer, names, _) = parsed(&issued.certificate_pem);
        assert!(subject.contains(name), "{subject}");
        assert_eq!(issuer, ca_subject);
        assert_eq!(names, vec![san.to_owned()]);
        let (_, cert) =
            x509_parser::pem::parse_x509_pem(issued.certificate_pem.as_bytes()).unwrap();
        let cert = cert.parse_x509().unwrap();
        assert!(cert.verify_signature(Some(ca.public_key())).is_ok());
        assert!(issued.key_pem.contains("PRIVATE KEY"));
    }
    let client = std::fs::read_to_string(credentials.pki_dir().join("clientcert.pem")).unwrap();
    let (_, cert) = x509_parser::pem::parse_x509_pem(client.as_bytes()).unwrap();
    assert!(
        cert.parse_x509()
            .unwrap()
            .verify_signature(Some(ca.public_key()))
            .is_ok()
    );
    for bad in ["", "kvm 2", "-kvm", "a/b", "kvm2.example.org\n"] {
        assert!(
            matches!(
                credentials.issue_server_certificate(bad),
                Err(CredentialError::HostName(_))
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn a_pinned_host_key_replaces_the_hosts_earlier_one_and_others_stay() {
    let (_dir, credentials) = credentials();
    let host_key = |seed: &str| {
        let mut key = ssh_key::PrivateKey::random(
            &mut ssh_key::rand_core::OsRng,
            ssh_key::Algorithm::Ed25519,
        )
        .unwrap();
        key.set_comment(seed);
        key.public_key().to_openssh().unwrap()
    };
    let (first, second, other) = (host_key("root@kvm3"), host_key("new"), host_key("x"));
    let pinned = credentials.pin_host_key("kvm3", &first).unwrap();
    assert_eq!(pinned.algorithm, "ssh-ed25519");
    assert!(pinned.fingerprint.starts_with("SHA256:"));
    // ssh-keyscan's form, with the host in front.
    credentials
        .pin_host_key("[kvm4]:2222", &format!("kvm4 {other}"))
        .unwrap();
    let replaced = credentials.pin_host_key("kvm3", &second).unwrap();
    assert_ne!(replaced, pinned);
    assert_eq!(credentials.pinned_host_key("kvm3").unwrap(), Some(replaced));
    let text = std::fs::read_to_string(credentials.known_hosts_path()).unwrap();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        credentials
            .pinned_host_key("[kvm4]:2222")
            .unwrap()
            .is_some()
    );
    assert_eq!(credentials.pinned_host_key("kvm5").unwrap(), None);
    for bad in [
        "",
        "ssh-ed25519 notbase64",
        "hello world",
        "-----BEGIN CERTIFICATE-----",
    ] {
        assert!(
            matches!(
                credentials.pin_host_key("kvm3", bad),
                Err(CredentialError::HostKey(_))
            ),
            "{bad:?}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(credentials.known_hosts_path()).unwrap(),
        text
    );
}
