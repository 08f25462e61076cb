//! Reusable components shared by pages.

mod cell_detail;
mod copy_link;
mod date_range_form;
mod error_message;
mod heatmap;
mod operator;
mod polling;
mod post_form;

pub use cell_detail::CellDetailView;
pub use copy_link::CopyLink;
pub use date_range_form::DateRangeForm;
pub use error_message::ErrorMessage;
pub use heatmap::{attr, disclosure, text, CellPicker, Heatmap, Legend, SummaryTable};
pub use operator::OperatorNote;
pub use polling::poll_while;
pub use post_form::PostForm;
