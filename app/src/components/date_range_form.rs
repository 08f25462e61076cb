use leptos::prelude::*;
use leptos_router::components::Form;

/// Start/end inputs that submit as the page's URL query (`?start=&end=`).
/// Without JavaScript it is a plain GET form; hydrated, the router turns the
/// submission into a client-side navigation.
#[component]
pub fn DateRangeForm(start: String, end: String) -> impl IntoView {
    view! {
        <Form method="GET" action="">
            <fieldset class="rc-range">
                <legend>"Date range"</legend>
                <label>
                    "Start date" <input type="date" name="start" value=start/>
                </label>
                <label>
                    "End date" <input type="date" name="end" value=end/>
                </label>
                <button type="submit">"Show"</button>
            </fieldset>
        </Form>
    }
}
