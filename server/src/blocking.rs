//! The one way blocking work (SQLite, libvirt, argon2) leaves the async
//! runtime.

/// Runs `work` on tokio's blocking pool and returns its result.
///
/// A panic inside `work` is resumed in the caller, as if it had run inline.
pub async fn run_blocking<T, F>(work: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        // Only happens while the runtime shuts down, when nobody waits for us.
        Err(err) => panic!("blocking task cancelled: {err}"),
    }
}
