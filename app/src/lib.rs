//! The dashboard: pages, reusable components and the server functions behind them.
//! `ssr` builds the server side (rendering + server functions), `hydrate` the
//! browser side; no other crate has these features.

pub mod api;
mod components;
pub mod error;
#[cfg(feature = "ssr")]
pub mod frozen;
mod pages;
pub mod palette;
#[cfg(feature = "ssr")]
mod state;
mod view_query;
pub mod wire;

pub use error::AppError;

/// Who may start, cancel and resume jobs (viewing needs nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum OperatorAccess {
    /// Listening on loopback with no token configured: allowed, with a note.
    OpenOnLoopback,
    /// The operator token is required (header or cookie).
    TokenRequired,
    /// Listening beyond loopback with no token configured: nobody may.
    Disabled,
}

/// What this request may do, as the pages show it (issue [N] 2): whether
/// it may start, cancel and resume jobs and acknowledge gaps, and the note
/// saying who it is and, when it may not, why — markup the server writes
/// (with the token form when one helps), so the bundle carries none of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Access {
    pub may_operate: bool,
    pub note_html: String,
}

#[cfg(feature = "ssr")]
impl Access {
    /// `note` as a paragraph, and the token form when `token_form`.
    pub fn new(may_operate: bool, token_form: bool, note: &str) -> Self {
        let mut note_html = format!("<p>{}</p>", components::text(note));
        if token_form {
            note_html.push_str(
                "<form method=\"POST\" action=\"/operator-token\" class=\"rc-token\">\
                 <label>Operator token <input type=\"password\" name=\"token\" autocomplete=\"off\"></label>\
                 <button type=\"submit\">Remember token</button></form>",
            );
        }
        Access {
            may_operate,
            note_html,
        }
    }

    /// Whether the note offers the token form.
    pub fn token_form(&self) -> bool {
        self.note_html.contains("/operator-token")
    }
}

#[cfg(feature = "ssr")]
impl OperatorAccess {
    pub fn note(self) -> &'static str {
        match self {
            OperatorAccess::OpenOnLoopback => {
                "Re-runs are allowed without a token: this server listens on 127.0.0.1 and no ROLLCALL_OPERATOR_TOKEN is set."
            }
            OperatorAccess::TokenRequired => {
                "Starting, cancelling and resuming jobs needs the operator token."
            }
            OperatorAccess::Disabled => {
                "Re-runs are disabled: this server listens beyond loopback and no ROLLCALL_OPERATOR_TOKEN is set."
            }
        }
    }
}
#[cfg(feature = "ssr")]
pub use state::{caller, Caller, ServerState};

use domain::pipeline::Pipeline;
use domain::{ProcessorId, ProcessorSpec};

/// The pipeline the pages show: the one process-wide copy Rollcall keeps,
/// because a view cannot be handed a value from its server (the server
/// installs its store's pipeline at start-up, the browser the part its page
/// carries). Everything below the pages takes the pipeline as a value.
static PIPELINE: std::sync::OnceLock<Pipeline> = std::sync::OnceLock::new();

/// Makes `pipeline` the pages' pipeline; a different second one is refused.
pub fn install_pipeline(pipeline: Pipeline) -> Result<(), String> {
    // Set, not cloned and compared, where it can be: the browser installs
    // once, and the bundle then carries no whole-pipeline clone.
    match PIPELINE.set(pipeline) {
        Ok(()) => Ok(()),
        // The same one again is fine (the server's tests install it per
        // router); the browser installs only once.
        #[cfg(not(target_arch = "wasm32"))]
        Err(again) if PIPELINE.get() == Some(&again) => Ok(()),
        Err(_) => Err("the pages already show another pipeline".into()),
    }
}

/// The pages' pipeline (see [`install_pipeline`]).
pub fn pipeline() -> &'static Pipeline {
    PIPELINE.get_or_init(default_pipeline)
}

/// Until the server installs its own (and in tests): the shipped one.
#[cfg(not(target_arch = "wasm32"))]
fn default_pipeline() -> Pipeline {
    domain::pipeline::nba()
}

/// The browser must not carry the TOML parser: it installs what its page says.
#[cfg(target_arch = "wasm32")]
fn default_pipeline() -> Pipeline {
    panic!("the page's processors are installed before hydration")
}

/// A processor of the pages' pipeline.
pub(crate) fn spec(p: impl std::borrow::Borrow<ProcessorId>) -> &'static ProcessorSpec {
    pipeline().spec(*p.borrow())
}

/// Its short code (`PDC`).
pub(crate) fn code(p: impl std::borrow::Borrow<ProcessorId>) -> &'static str {
    &spec(p).code
}

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    ParamSegment, SsrMode, StaticSegment,
};

/// Where the page carries what the browser needs of the server's pipeline
/// (its processors, default view and whether its universe is the NBA box
/// scores), which the browser installs before hydrating
/// ([`install_processors_from_page`]): the browser never reads the pipeline
/// file, so it needs no TOML parser.
const PROCESSORS_SCRIPT_ID: &str = "rc-processors";

/// The part of the pipeline the page carries.
#[derive(serde::Serialize, serde::Deserialize)]
struct PagePipeline {
    processors: Vec<domain::ProcessorSpec>,
    default_view: Option<domain::DateRange>,
    universe_table: String,
    entity_name: String,
    entities_name: String,
    categories: domain::failure::Taxonomy,
}

/// The active pipeline's page part as [`wire::PageText`] (base64: safe inside `<script>`).
fn processors_text() -> String {
    let p = pipeline();
    let page = PagePipeline {
        processors: p.processors.clone(),
        default_view: p.default_view,
        universe_table: p.universe.table.clone(),
        entity_name: p.universe.entity_name.clone(),
        entities_name: p.universe.entities_name.clone(),
        categories: p.categories.clone(),
    };
    // Serialising plain strings and numbers cannot fail; an empty text is
    // refused by the browser with a message rather than mis-read.
    wire::PageText::encode(&page).unwrap_or_default()
}

/// Installs the pipeline part the page carries as the browser's pipeline.
#[cfg(feature = "hydrate")]
pub fn install_processors_from_page() -> Result<(), String> {
    let text = document()
        .get_element_by_id(PROCESSORS_SCRIPT_ID)
        .and_then(|e| e.text_content())
        .ok_or("the page carries no processors")?;
    let page: PagePipeline =
        wire::PageText::decode(&text).map_err(|e| format!("the page's pipeline: {e}"))?;
    let mut pipeline = domain::pipeline::Pipeline::of_processors(page.processors);
    pipeline.default_view = page.default_view;
    pipeline.universe.table = page.universe_table;
    pipeline.universe.entity_name = page.entity_name;
    pipeline.universe.entities_name = page.entities_name;
    pipeline.categories = page.categories;
    install_pipeline(pipeline)
}

/// The HTML document around the app (server side only). The stylesheet is
/// named like the bundle (`rollcall.<hash>.css`), so it is linked here, where
/// the site's options are known.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let stylesheet = format!("/{}/{}.css", options.site_pkg_dir, options.output_name);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="data:,"/>
                <link rel="stylesheet" id="rollcall-css" href=stylesheet/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
                <script type="text/plain" id=PROCESSORS_SCRIPT_ID inner_html=processors_text()></script>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title text="Rollcall"/>
        <Router>
            <header class="rc-header">
                <a class="rc-brand" href="/">"Rollcall"</a>
                <span class="rc-tagline">{format!("every expected {} answers roll call", pipeline().universe.entity())}</span>
                <nav class="rc-nav" aria-label="Main">
                    <a href="/">"Coverage"</a>
                    <a href="/jobs">"Jobs"</a>
                    // Plain server pages (server/src/feed_pages.rs): the
                    // bundle carries none of their code.
                    <a href="/changes" rel="external">"Changes"</a>
                    <a href="/alerts" rel="external">"Alerts"</a>
                    <a href="/acknowledgements" rel="external">"Known gaps"</a>
                </nav>
            </header>
            <main class="rc-main">
                // Async: wait for data, then send complete HTML, so a shared link
                // renders without JavaScript.
                <Routes fallback=pages::NotFound>
                    <Route path=StaticSegment("") view=pages::CoveragePage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("rerun") view=pages::RerunPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("jobs") view=pages::JobsPage ssr=SsrMode::Async/>
                    <Route
                        path=(StaticSegment("jobs"), ParamSegment("id"))
                        view=pages::JobPage
                        ssr=SsrMode::Async
                    />
                    // Any pipeline's entity; `/players/` keeps older links working.
                    <Route
                        path=(StaticSegment("trace"), ParamSegment("player"))
                        view=pages::PlayerPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=(StaticSegment("players"), ParamSegment("player"))
                        view=pages::PlayerPage
                        ssr=SsrMode::Async
                    />
                </Routes>
            </main>
        </Router>
    }
}
