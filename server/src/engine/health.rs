//! The application health check: one GET to the instance's own address and
//! port. A guest is not trusted: its answer may redirect anywhere or never
//! end, so no redirect is followed and at most 1 MiB is read.

use std::time::Duration;

use super::EngineError;

/// The most of an answer that is read before the check gives up.
const MAX_BODY: usize = 1 << 20;
const TIMEOUT: Duration = Duration::from_secs(3);

pub fn client() -> Result<reqwest::Client, EngineError> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| EngineError::Io(std::io::Error::other(e)))
}

/// Whether `url` answers 2xx with `expect` in the first MiB of its body.
pub async fn answers(client: &reqwest::Client, url: &str, expect: &str) -> bool {
    let Ok(mut response) = client.get(url).send().await else {
        return false;
    };
    if !response.status().is_success() {
        return false;
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if body.len() + chunk.len() <= MAX_BODY => {
                body.extend_from_slice(&chunk);
            }
            // Over the limit, or broken off.
            Ok(Some(_)) | Err(_) => return false,
            Ok(None) => break,
        }
    }
    String::from_utf8_lossy(&body).contains(expect)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::response::Redirect;
    use axum::routing::get;

    async fn serve(app: Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn only_the_first_mib_of_a_direct_answer_counts() {
        let big = "x".repeat(MAX_BODY) + "DokuWiki";
        let base = serve(
            Router::new()
                .route("/ok", get(|| async { "<title>DokuWiki</title>" }))
                .route("/big", get(move || async move { big }))
                .route("/moved", get(|| async { Redirect::temporary("/ok") }))
                .route("/nothing", get(|| async { "" })),
        )
        .await;
        let client = client().unwrap();
        assert!(answers(&client, &format!("{base}/ok"), "DokuWiki").await);
        assert!(!answers(&client, &format!("{base}/big"), "DokuWiki").await);
        assert!(!answers(&client, &format!("{base}/moved"), "DokuWiki").await);
        assert!(!answers(&client, &format!("{base}/nothing"), "DokuWiki").await);
        assert!(!answers(&client, &format!("{base}/missing"), "DokuWiki").await);
    }
}
