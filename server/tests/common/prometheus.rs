//! A real Prometheus server for tests (Debian's `prometheus`): its own
//! config and storage in a temporary directory, listening on a loopback
//! port, scraping one target every second. Killed when dropped, also when
//! the test panics.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub struct Prometheus {
    child: Child,
    dir: tempfile::TempDir,
    pub port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Prometheus {
    /// Starts Prometheus scraping `target` (`127.0.0.1:PORT`) at
    /// `/metrics` with `token` as bearer.
    pub fn scraping(target: &str, token: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: dpe\n    metrics_path: /metrics\n\
             \x20   authorization:\n      type: Bearer\n      credentials: {token}\n\
             \x20   static_configs:\n      - targets: ['{target}']\n"
        );
        let config_file = dir.path().join("prometheus.yml");
        std::fs::write(&config_file, config).unwrap();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run prometheus ({e}): run scripts/setup, which installs it")
            });
        Prometheus { child, dir, port }
    }

    /// What it logged so far, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// The instant query `query`'s result vector, once it has at least one
    /// sample; panics after `limit`.
    pub async fn query_until_present(&self, query: &str, limit: Duration) -> Vec<Value> {
        let http = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{}/api/v1/query", self.port);
        let start = Instant::now();
        let mut last = String::new();
        while start.elapsed() < limit {
            let answer = http.get(&url).query(&[("query", query)]).send().await;
            if let Ok(answer) = answer
                && let Ok(body) = answer.json::<Value>().await
            {
                if let Some(result) = body["data"]["result"].as_array()
                    && !result.is_empty()
                {
                    return result.clone();
                }
                last = body.to_string();
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!(
            "no {query} in Prometheus after {limit:?} (last answer: {last}); its log:\n{}",
            self.log()
        );
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
