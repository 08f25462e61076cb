use leptos::prelude::*;

use crate::Access;

/// Who you are and what you may do here, and the form that keeps the
/// operator token in a cookie (HttpOnly, SameSite=Strict) when one helps:
/// markup the server wrote (`Access::new`).
#[component]
pub fn OperatorNote(access: Access) -> impl IntoView {
    view! { <aside class="rc-note" role="note" aria-label="Operator access" inner_html=access.note_html></aside> }
}
