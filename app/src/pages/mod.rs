//! Pages: one per route. Reusable pieces live in `components`.

mod coverage;
mod jobs;
mod player;
mod rerun;

pub use coverage::CoveragePage;
pub use jobs::{JobPage, JobsPage};
pub use player::PlayerPage;
pub use rerun::RerunPage;

use leptos::prelude::*;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
        res.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <section class="rc-notfound">
            <h1>"Not found"</h1>
            <p>"There is no page at this address. " <a href="/">"Back to coverage"</a></p>
        </section>
    }
}
