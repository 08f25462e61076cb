use leptos::prelude::*;
use leptos::server_fn::ServerFn;

/// A form that calls a server function: without JavaScript the browser posts
/// its fields to the function's URL; hydrated, it dispatches `input` on
/// `action` instead.
///
/// Leptos' `ActionForm` reads the input back out of the form's fields, which
/// puts a query-string deserializer for every input type in the bundle. Our
/// forms only post values the page already holds, so the fields (`children`)
/// serve the no-JavaScript post and the page hands over the same values.
#[component]
pub fn PostForm<S>(action: ServerAction<S>, input: S, children: Children) -> impl IntoView
where
    S: ServerFn + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        action.dispatch(input.clone());
    };
    view! {
        <form method="post" action=S::url() on:submit=submit>
            {children()}
        </form>
    }
}
