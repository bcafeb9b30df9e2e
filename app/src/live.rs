//! The one live feed of a signed-in tab: `/api/v1/events`, opened once
//! the tab knows who is signed in and kept across page changes. Pages that
//! show instances read its tick and reload their data when it moves: at
//! most once a second, however busy the appliance is. Charts of use read
//! their own tick, which moves as readings are stored (every 10 s). A reload that fails
//! for a passing reason is tried again, less and less often, and the page
//! keeps showing what it last loaded, marked stale ([`LastGood`]).
//! Without JavaScript there is no feed; those pages refresh themselves
//! instead.

use leptos::prelude::*;

use crate::error::AppError;

/// Ticks when something the reader may see changed.
#[derive(Clone, Copy)]
pub struct LiveFeed {
    /// Moves (at most once a second) after changes arrived.
    tick: RwSignal<u64>,
    /// Moves when instances' use was read (every 10 s): only charts
    /// follow it, so lists do not reload for it.
    readings: RwSignal<u64>,
    #[cfg(feature = "hydrate")]
    state: StoredValue<hydrate::State, LocalStorage>,
}

impl LiveFeed {
    /// Made once, at the root of the app.
    pub fn provide() {
        provide_context(LiveFeed {
            tick: RwSignal::new(0),
            readings: RwSignal::new(0),
            #[cfg(feature = "hydrate")]
            state: StoredValue::new_local(hydrate::State::default()),
        });
    }

    /// The tab's feed (a fresh, silent one outside the app's root).
    pub fn get() -> LiveFeed {
        use_context::<LiveFeed>().unwrap_or_else(|| LiveFeed {
            tick: RwSignal::new(0),
            readings: RwSignal::new(0),
            #[cfg(feature = "hydrate")]
            state: StoredValue::new_local(hydrate::State::default()),
        })
    }

    /// What pages key their data on.
    pub fn tick(self) -> u64 {
        self.tick.get()
    }

    /// What charts of use key their data on.
    pub fn readings(self) -> u64 {
        self.readings.get()
    }

    /// Opens the feed (once; later calls do nothing).
    pub fn start(self) {
        #[cfg(feature = "hydrate")]
        hydrate::start(self);
    }

    /// Closes it (before signing out: a feed that loses its session would
    /// otherwise try again, and be refused).
    pub fn stop(self) {
        #[cfg(feature = "hydrate")]
        hydrate::stop(self);
    }

    /// A page's reload failed for a passing reason (a network blip while
    /// the feed stayed up): tick again after 1, 2, 4... and at most 30
    /// seconds, until a reload succeeds, though nothing else changes.
    pub fn retry(self) {
        #[cfg(feature = "hydrate")]
        self.state.update_value(|s| {
            s.failures = s.failures.saturating_add(1);
            s.wait = 1_u32
                .checked_shl(s.failures - 1)
                .unwrap_or(u32::MAX)
                .min(MAX_RETRY_SECS);
        });
    }

    /// A page's reload succeeded: no retry is due.
    pub fn reloaded(self) {
        #[cfg(feature = "hydrate")]
        self.state.update_value(|s| {
            s.failures = 0;
            s.wait = 0;
        });
    }
}

/// The longest wait between retries of a failed reload.
#[cfg(feature = "hydrate")]
const MAX_RETRY_SECS: u32 = 30;

/// How a live page shows what it loaded.
pub enum Shown<T> {
    /// As it is now.
    Fresh(T),
    /// As it was at the last good load, with why the reload failed (it is
    /// tried again).
    Stale(T, AppError),
    /// Nothing to show but why.
    Failed(AppError),
}

/// The last value a live page loaded for its key (the page's address, say):
/// a reload that fails for a passing reason keeps showing it, marked
/// stale, rather than replacing the page with the error.
pub struct LastGood<K: 'static, T: 'static> {
    #[cfg(feature = "hydrate")]
    kept: StoredValue<Option<(K, T)>, LocalStorage>,
    #[cfg(not(feature = "hydrate"))]
    kept: std::marker::PhantomData<fn() -> (K, T)>,
}

impl<K: 'static, T: 'static> Clone for LastGood<K, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K: 'static, T: 'static> Copy for LastGood<K, T> {}

impl<K: PartialEq + 'static, T: Clone + 'static> LastGood<K, T> {
    pub fn new() -> Self {
        LastGood {
            #[cfg(feature = "hydrate")]
            kept: StoredValue::new_local(None),
            #[cfg(not(feature = "hydrate"))]
            kept: std::marker::PhantomData,
        }
    }

    /// How to show `loaded`, the load for `key`; the feed is told to try
    /// again when it failed for a passing reason. (The server renders a
    /// page once: it keeps nothing.)
    pub fn show(self, feed: LiveFeed, key: K, loaded: Result<T, AppError>) -> Shown<T> {
        match loaded {
            Ok(value) => {
                feed.reloaded();
                #[cfg(feature = "hydrate")]
                self.kept.set_value(Some((key, value.clone())));
                #[cfg(not(feature = "hydrate"))]
                drop(key);
                Shown::Fresh(value)
            }
            Err(error) if error.is_transient() => {
                feed.retry();
                #[cfg(feature = "hydrate")]
                let kept = self.kept.with_value(|kept| {
                    kept.as_ref()
                        .filter(|(k, _)| *k == key)
                        .map(|(_, v)| v.clone())
                });
                #[cfg(not(feature = "hydrate"))]
                let kept: Option<T> = None;
                match kept {
                    Some(value) => Shown::Stale(value, error),
                    None => Shown::Failed(error),
                }
            }
            Err(error) => Shown::Failed(error),
        }
    }
}

impl<K: PartialEq + 'static, T: Clone + 'static> Default for LastGood<K, T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "hydrate")]
mod hydrate {
    use std::time::Duration;

    use leptos::prelude::*;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;

    use super::LiveFeed;

    #[derive(Default)]
    pub struct State {
        source: Option<web_sys::EventSource>,
        /// Changes arrived since the last tick.
        dirty: bool,
        /// Reloads failed in a row, and the seconds until the next try.
        pub(super) failures: u32,
        pub(super) wait: u32,
    }

    const EVENTS: [&str; 4] = ["instance", "instance_removed", "task", "reset"];

    pub fn start(feed: LiveFeed) {
        if feed.state.with_value(|s| s.source.is_some()) {
            return;
        }
        let Ok(source) = web_sys::EventSource::new("/api/v1/events") else {
            return;
        };
        let on_change = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            feed.state.update_value(|s| s.dirty = true);
        });
        for name in EVENTS {
            let _ =
                source.add_event_listener_with_callback(name, on_change.as_ref().unchecked_ref());
        }
        // A reconnection may have missed changes the server no longer
        // keeps: read everything again then.
        let _ = source.add_event_listener_with_callback("open", on_change.as_ref().unchecked_ref());
        on_change.forget();
        let on_readings = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            feed.readings.try_update(|n| *n += 1);
        });
        let _ = source
            .add_event_listener_with_callback("readings", on_readings.as_ref().unchecked_ref());
        on_readings.forget();
        let on_error = Closure::<dyn FnMut(web_sys::Event)>::new(move |_| {
            // Closed for good (refused: signed out elsewhere): let it be.
            let closed = feed.state.with_value(|s| {
                s.source
                    .as_ref()
                    .is_some_and(|s| s.ready_state() == web_sys::EventSource::CLOSED)
            });
            if closed {
                stop(feed);
            }
        });
        let _ = source.add_event_listener_with_callback("error", on_error.as_ref().unchecked_ref());
        on_error.forget();
        feed.state.update_value(|s| s.source = Some(source));
        // The tick: at most once a second, and only after changes.
        let _ = set_interval_with_handle(
            move || {
                let dirty = feed
                    .state
                    .try_update_value(|s| {
                        // A retry is due as its wait runs out.
                        let retry = s.wait == 1;
                        s.wait = s.wait.saturating_sub(1);
                        std::mem::take(&mut s.dirty) || retry
                    })
                    .unwrap_or(false);
                if dirty {
                    feed.tick.try_update(|n| *n += 1);
                }
            },
            Duration::from_secs(1),
        );
    }

    pub fn stop(feed: LiveFeed) {
        if let Some(source) = feed.state.try_update_value(|s| s.source.take()).flatten() {
            source.close();
        }
    }
}
