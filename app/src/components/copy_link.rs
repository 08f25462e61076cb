use leptos::prelude::*;

/// Copies the page's URL (which holds the whole view state) to the clipboard.
#[component]
pub fn CopyLink() -> impl IntoView {
    let (copied, set_copied) = signal(false);
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        if let Some(w) = web_sys::window() {
            if let Ok(href) = w.location().href() {
                // The promise is fire-and-forget; the label confirms the click.
                let _ = w.navigator().clipboard().write_text(&href);
                set_copied.set(true);
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = set_copied;
    };
    view! {
        <button type="button" class="rc-copy" on:click=copy>
            {move || if copied.get() { "Link copied" } else { "Copy link" }}
        </button>
    }
}
