//! Reusable components shared by pages.

mod date_range_form;
mod error_message;

pub use date_range_form::DateRangeForm;
pub use error_message::ErrorMessage;
