//! Built for wasm32 with the `hydrate` feature and bound by wasm-bindgen; the
//! server's `<HydrationScripts>` loads it and calls `hydrate()`.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    if let Err(e) = app::install_processors_from_page() {
        leptos::logging::error!("cannot hydrate: {e}");
        return;
    }
    leptos::mount::hydrate_body(app::App);
    // A marker for browser tests (and curious humans): the page is interactive.
    if let Some(body) = leptos::prelude::document().body() {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}
