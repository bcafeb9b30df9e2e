//! A real OpenLDAP server for tests: its own config and database in a
//! temporary directory, listening on loopback ports (LDAP and LDAPS with a
//! certificate from a throwaway CA), filled from LDIF before it starts.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

pub const BASE: &str = "dc=example,dc=org";
pub const ROOT_DN: &str = "cn=admin,dc=example,dc=org";
pub const ROOT_PASSWORD: &str = "root-Secret-41";

pub struct Slapd {
    dir: tempfile::TempDir,
    ca: PathBuf,
    pub port: u16,
    pub tls_port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(command: &mut Command) {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Slapd {
    /// Starts slapd with `ldif` loaded under [`BASE`].
    pub fn start(ldif: &str) -> Slapd {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path();
        std::fs::create_dir(path.join("db")).unwrap();
        let certificates = super::certificates::make(path);
        let conf = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             modulepath /usr/lib/ldap\n\
             moduleload back_mdb\n\
             pidfile {dir}/slapd.pid\n\
             TLSCertificateFile {cert}\n\
             TLSCertificateKeyFile {key}\n\
             database mdb\n\
             suffix \"{BASE}\"\n\
             rootdn \"{ROOT_DN}\"\n\
             rootpw {ROOT_PASSWORD}\n\
             directory {dir}/db\n\
             maxsize 10485760\n",
            dir = path.display(),
            cert = certificates.cert.display(),
            key = certificates.key.display(),
        );
        std::fs::write(path.join("slapd.conf"), conf).unwrap();
        std::fs::write(path.join("data.ldif"), ldif).unwrap();
        run(Command::new("slapadd")
            .arg("-f")
            .arg(path.join("slapd.conf"))
            .arg("-l")
            .arg(path.join("data.ldif")));
        let slapd = Slapd {
            ca: certificates.ca,
            dir,
            port: free_port(),
            tls_port: free_port(),
        };
        slapd.launch();
        slapd
    }

    fn launch(&self) {
        // Forks into the background once it listens.
        run(Command::new("slapd")
            .arg("-f")
            .arg(self.dir.path().join("slapd.conf"))
            .arg("-h")
            .arg(format!(
                "ldap://127.0.0.1:{}/ ldaps://127.0.0.1:{}/",
                self.port, self.tls_port
            ))
            .stdout(Stdio::null()));
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("slapd did not start");
    }

    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// By name, so the certificate's DNS name matches.
    pub fn tls_url(&self) -> String {
        format!("ldaps://localhost:{}", self.tls_port)
    }

    pub fn ca_pem(&self) -> String {
        std::fs::read_to_string(&self.ca).unwrap()
    }

    /// Applies an LDIF change as the root DN.
    pub fn modify(&self, ldif: &str) {
        let file: PathBuf = self.dir.path().join("change.ldif");
        std::fs::write(&file, ldif).unwrap();
        run(Command::new("ldapmodify")
            .args([
                "-x",
                "-H",
                &self.url(),
                "-D",
                ROOT_DN,
                "-w",
                ROOT_PASSWORD,
                "-f",
            ])
            .arg(&file));
    }

    pub fn stop(&self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("slapd.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
            for _ in 0..100 {
                if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}
