//! Picking heatmap cells for a re-run.

use leptos::prelude::*;

/// Cells picked for a re-run on the heatmap (browser only): `picking` turns
/// clicks into picks; shift-click picks the run of cells in the same row since
/// the last pick.
#[derive(Debug, Clone, Copy)]
pub struct CellPicker {
    pub picking: RwSignal<bool>,
    pub picked: RwSignal<Vec<String>>,
    pub anchor: RwSignal<Option<String>>,
}

impl CellPicker {
    pub fn new() -> Self {
        Self {
            picking: RwSignal::new(false),
            picked: RwSignal::new(Vec::new()),
            anchor: RwSignal::new(None),
        }
    }

    /// Toggles `key`, or with `extend` adds the cells of `row` between the
    /// anchor and `key`.
    pub(super) fn pick(&self, key: &str, extend: bool, row: &[String]) {
        let anchor = self.anchor.get_untracked();
        let span = anchor.as_ref().and_then(|a| {
            let i = row.iter().position(|k| k == a)?;
            let j = row.iter().position(|k| k == key)?;
            Some(row[i.min(j)..=i.max(j)].to_vec())
        });
        self.picked.update(|picked| match span.filter(|_| extend) {
            Some(span) => {
                for k in span {
                    if !picked.contains(&k) {
                        picked.push(k);
                    }
                }
            }
            None => match picked.iter().position(|k| k == key) {
                Some(i) => {
                    picked.remove(i);
                }
                None => picked.push(key.to_string()),
            },
        });
        self.anchor.set(Some(key.to_string()));
    }
}

impl Default for CellPicker {
    fn default() -> Self {
        Self::new()
    }
}
