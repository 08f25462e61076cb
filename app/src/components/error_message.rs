use leptos::prelude::*;

use crate::AppError;

/// An inline, readable error (never a blank page).
#[component]
pub fn ErrorMessage(error: AppError) -> impl IntoView {
    let (title, class) = match &error {
        AppError::BadInput(_) => ("Check the input", "rc-error rc-error-input"),
        AppError::NotFound(_) => ("Not found", "rc-error"),
        AppError::Conflict(_) => ("Not possible right now", "rc-error rc-error-input"),
        AppError::Forbidden(_) => ("Not allowed", "rc-error"),
        AppError::Internal(_) | AppError::Transport(_) => ("Something went wrong", "rc-error"),
    };
    view! {
        <div class=class role="alert">
            <strong>{title}</strong>
            <p>{error.to_string()}</p>
        </div>
    }
}
