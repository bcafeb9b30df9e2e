//! The one live feed of a signed-in tab: `/api/v1/events`, opened once
//! the tab knows who is signed in and kept across page changes. Pages that
//! show instances read its tick and reload their data when it moves: at
//! most once a second, however busy the appliance is. Without JavaScript
//! there is no feed; those pages refresh themselves instead.

use leptos::prelude::*;

/// Ticks when something the reader may see changed.
#[derive(Clone, Copy)]
pub struct LiveFeed {
    /// Moves (at most once a second) after changes arrived.
    tick: RwSignal<u64>,
    #[cfg(feature = "hydrate")]
    state: StoredValue<hydrate::State, LocalStorage>,
}

impl LiveFeed {
    /// Made once, at the root of the app.
    pub fn provide() {
        provide_context(LiveFeed {
            tick: RwSignal::new(0),
            #[cfg(feature = "hydrate")]
            state: StoredValue::new_local(hydrate::State::default()),
        });
    }

    /// The tab's feed (a fresh, silent one outside the app's root).
    pub fn get() -> LiveFeed {
        use_context::<LiveFeed>().unwrap_or_else(|| LiveFeed {
            tick: RwSignal::new(0),
            #[cfg(feature = "hydrate")]
            state: StoredValue::new_local(hydrate::State::default()),
        })
    }

    /// What pages key their data on.
    pub fn tick(self) -> u64 {
        self.tick.get()
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
                    .try_update_value(|s| std::mem::take(&mut s.dirty))
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
