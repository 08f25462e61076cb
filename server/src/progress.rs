//! The CLI's progress bar (indicatif) for long work.

use engine::backfill::{Progress, ProgressSink};
use indicatif::{ProgressBar, ProgressStyle};

pub struct BarSink {
    bar: ProgressBar,
    /// The pipeline's word for its entities ("players/s").
    entities: String,
}

impl BarSink {
    pub fn new(label: &str, entities: String) -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} cells  {msg}  ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        Self { bar, entities }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl ProgressSink for BarSink {
    fn update(&self, p: &Progress) {
        self.bar.set_length(p.cells_total as u64);
        self.bar.set_position(p.cells_done as u64);
        self.bar.set_message(format!(
            "{:.0} {}/s  {}",
            p.players_per_second(),
            self.entities,
            p.current.as_deref().unwrap_or("")
        ));
    }
}
