//! A page or server function, once begun, runs to the end.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Runs the request as a task of its own, which a client that goes away
/// cannot drop halfway.
///
/// Dropped mid-render, the request's reactive Owner went with it while
/// the page's `<Transition>`s still had tasks running under it. Those
/// then panicked on contexts no longer there ("called use_resolved_path
/// outside a <Router>"), or worse, dropped the Owner's last reference
/// while reading its context, and Leptos's cleanup then waited forever
/// on a lock that very read held: a runtime worker lost for good, half
/// the portal's speed on two cores (seen at the end of load runs, when
/// wrk leaves mid-request). The price is the rest of one render, some
/// milliseconds, for nobody.
pub(super) async fn to_the_end(request: Request, next: Next) -> Response {
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(err) => {
            // Only a panic in the page or server function itself: the
            // runtime outlives us.
            tracing::error!("a page or server function failed: {err}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn a_request_whose_client_leaves_still_runs_to_the_end() {
        let finished = Arc::new(AtomicBool::new(false));
        let page = {
            let finished = finished.clone();
            move || async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                finished.store(true, Ordering::SeqCst);
                "rendered"
            }
        };
        let router = Router::new()
            .route("/", get(page))
            .route_layer(axum::middleware::from_fn(to_the_end));
        let request = Request::builder()
            .uri("/")
            .body(Body::empty())
            .expect("request");

        // The client gives up (its future is dropped) long before the end.
        let gave_up =
            tokio::time::timeout(Duration::from_millis(10), router.oneshot(request)).await;
        assert!(gave_up.is_err(), "the page should still have been running");
        assert!(!finished.load(Ordering::SeqCst));

        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            finished.load(Ordering::SeqCst),
            "the render was dropped halfway"
        );
    }
}
