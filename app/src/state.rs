use std::sync::Arc;

use warehouse::Warehouse;

use crate::OperatorAccess;

/// What every server function gets from context: the warehouse chosen at
/// start-up, the configured limits, the job runner and who may start jobs.
#[derive(Clone)]
pub struct ServerState {
    pub warehouse: Arc<dyn Warehouse>,
    /// The same warehouse behind the read cache, for the views dashboards
    /// poll (grid, overview); operations that must see the latest rows use
    /// `warehouse`.
    pub views: Arc<dyn Warehouse>,
    pub limits: engine::Limits,
    pub jobs: Arc<engine::jobs::JobRunner>,
    /// Enforced by the server's middleware; shown by the pages.
    pub access: OperatorAccess,
}

/// Who a request is, as the server's middleware found (request extension):
/// the name kept on what it makes (a job, an acknowledgement) and what the
/// pages may offer it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub access: crate::Access,
}

/// The request's caller, when the middleware named one.
pub fn caller() -> Option<Caller> {
    leptos::prelude::use_context::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Caller>().cloned())
}
