//! Reusable components shared by pages.

mod cell_detail;
mod cell_picker;
mod copy_link;
mod date_range_form;
mod error_message;
mod heatmap;
mod heatmap_cells;
mod legend;
mod markup;
mod operator;
mod polling;
mod post_form;

pub use cell_detail::CellDetailView;
pub use cell_picker::CellPicker;
pub use copy_link::CopyLink;
pub use date_range_form::DateRangeForm;
pub use error_message::ErrorMessage;
pub use heatmap::Heatmap;
pub use legend::{Legend, SummaryTable};
pub use markup::{attr, disclosure, text};
pub use operator::OperatorNote;
pub use polling::poll_while;
pub use post_form::PostForm;
