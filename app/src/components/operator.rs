use leptos::prelude::*;

use crate::OperatorAccess;

/// Who may start jobs here, and the form that keeps the operator token in a
/// cookie (HttpOnly, SameSite=Strict) when one is needed.
#[component]
pub fn OperatorNote(access: OperatorAccess) -> impl IntoView {
    let form = (access == OperatorAccess::TokenRequired).then(|| {
        view! {
            <form method="POST" action="/operator-token" class="rc-token">
                <label>
                    "Operator token " <input type="password" name="token" autocomplete="off"/>
                </label>
                <button type="submit">"Remember token"</button>
            </form>
        }
    });
    view! {
        <aside class="rc-note" role="note" aria-label="Operator access">
            <p>{access.note()}</p>
            {form}
        </aside>
    }
}
