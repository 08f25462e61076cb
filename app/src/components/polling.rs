#[cfg(feature = "hydrate")]
use leptos::prelude::*;

/// In the browser, calls `refresh` every `ms` milliseconds while `active()`
/// says something is running; nothing is requested otherwise. On the server
/// (and without JavaScript) it does nothing: those pages offer a Refresh link.
pub fn poll_while(
    active: impl Fn() -> bool + Clone + 'static,
    refresh: impl Fn() + Clone + 'static,
    ms: u64,
) {
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        let (active, refresh) = (active.clone(), refresh.clone());
        let tick = move || {
            if active() {
                refresh();
            }
        };
        if let Ok(handle) = set_interval_with_handle(tick, std::time::Duration::from_millis(ms)) {
            on_cleanup(move || handle.clear());
        }
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (active, refresh, ms);
}
