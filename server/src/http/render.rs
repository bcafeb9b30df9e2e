//! A page or server function, once begun, runs to the end.

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower::limit::GlobalConcurrencyLimitLayer;

/// How many pages render at once: two per core. The rest wait their turn,
/// first come first served, before anything of them is made.
///
/// A render is CPU work alone (no page asks libvirt anything; the store
/// answers in well under a millisecond), so more at once only interleave:
/// under 64 connections every one of 64 renders was under way, each held
/// its half-built page in memory the caches could no longer keep, and the
/// unluckiest waited longest: p99 was twice p50. Taking turns, the list
/// page's p99 is 1.3 to 1.6 times its p50 (`scripts/bench-portal`).
pub(super) fn at_once() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()) * 2
}

/// Pages (`pages`) and server functions (`functions`) as one router: each
/// runs to the end ([`to_the_end`]), and pages take turns ([`at_once`]).
/// Server functions never wait for a turn: one may wait on a host.
pub(super) fn rendered<S: Clone + Send + Sync + 'static>(
    pages: Router<S>,
    functions: Router<S>,
) -> Router<S> {
    functions
        .merge(pages.route_layer(GlobalConcurrencyLimitLayer::new(at_once())))
        .route_layer(axum::middleware::from_fn(to_the_end))
}

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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pages_take_turns_and_server_functions_never_wait_for_one() {
        let (release, wait) = tokio::sync::watch::channel(false);
        let slow = move || {
            let mut wait = wait.clone();
            async move {
                let _ = wait.wait_for(|go| *go).await;
                "slow"
            }
        };
        let router = rendered(
            Router::new()
                .route("/slow", get(slow))
                .route("/page", get(|| async { "page" })),
            Router::new().route("/fn/x", get(|| async { "function" })),
        );
        let get_from = |path: &str| {
            let router = router.clone();
            let request = Request::builder()
                .uri(path)
                .body(Body::empty())
                .expect("request");
            tokio::spawn(router.oneshot(request))
        };
        let busy: Vec<_> = (0..at_once()).map(|_| get_from("/slow")).collect();
        tokio::time::sleep(Duration::from_millis(100)).await;

        let function = tokio::time::timeout(Duration::from_secs(5), get_from("/fn/x")).await;
        assert!(
            function.is_ok(),
            "a server function waited for a page's turn"
        );
        let page = get_from("/page");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!page.is_finished(), "a page rendered out of turn");

        release.send_replace(true);
        for request in busy {
            request.await.expect("slow page").expect("answer");
        }
        let answer = tokio::time::timeout(Duration::from_secs(5), page).await;
        assert!(answer.is_ok(), "the waiting page never got its turn");
    }

    /// A context value whose lookup (its clone) drops the last handle on
    /// the owner that provides it, from outside the reactive graph: what a
    /// render ending on another thread does while one of its resources
    /// still runs a server function that calls `use_context`.
    struct DropsItsProvider(Arc<std::sync::Mutex<Option<leptos::prelude::Owner>>>);

    impl Clone for DropsItsProvider {
        fn clone(&self) -> Self {
            drop(self.0.lock().unwrap().take());
            DropsItsProvider(self.0.clone())
        }
    }

    #[test]
    fn a_context_lookup_that_drops_the_last_handle_on_its_provider_does_not_deadlock() {
        use leptos::prelude::{Owner, provide_context, use_context};

        let (done, finished) = std::sync::mpsc::channel();
        // On a thread of its own: deadlocked, it never returns.
        std::thread::spawn(move || {
            let slot = Arc::new(std::sync::Mutex::new(None));
            let parent = Owner::new();
            parent.with(|| provide_context(DropsItsProvider(slot.clone())));
            let child = parent.child();
            // The slot holds the parent's only strong handle (a child
            // holds its parent weakly).
            *slot.lock().unwrap() = Some(parent);
            let found = child.with(use_context::<DropsItsProvider>);
            _ = done.send(found.is_some());
        });
        assert_eq!(
            finished.recv_timeout(Duration::from_secs(10)),
            Ok(true),
            "the lookup stopped for good (vendor/reactive_graph/PATCHED.md)"
        );
    }
}
