//! A snapshot's heatmap, legend and summary (issue [O] 1): the coverage
//! page's own components, rendered once on the server from frozen numbers,
//! so `/s/{id}` looks like the view it froze. Server-only: the hydrate
//! bundle carries none of it.

use domain::report::DrawnGrid;
use leptos::prelude::*;

use crate::components::{CellPicker, Heatmap, Legend, SummaryTable};
pub use crate::view_query::ViewQuery;

/// The markup of the grid's heatmap, legend and summary table. Links point
/// at the live page (`/?…`); the caller points them at the snapshot.
pub fn heatmap_markup(grid: DrawnGrid, view: ViewQuery) -> String {
    let owner = Owner::new();
    owner.with(|| {
        let picker = CellPicker::new();
        view! {
            <Heatmap grid=grid.clone() view picker/>
            <Legend/>
            <SummaryTable grid/>
        }
        .to_html()
    })
}
