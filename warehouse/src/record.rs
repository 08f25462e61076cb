//! The pipeline a store was made with: each store keeps one row of its
//! [`Shape`] and asks [`admit`] at open, before creating any table.

use domain::pipeline::shape::{Shape, ShapeChange};
use domain::pipeline::Pipeline;

use crate::{Result, WarehouseError};

/// A column a command's table gains: (table, column), as declared.
pub type Grown = Vec<(String, String)>;

/// Whether `pipeline` may open a store that recorded `recorded` (its JSON;
/// `None`: a store made before stores recorded their pipeline, or a new
/// one), and which columns its tables gain: only those the record proves
/// new may be added (a table that lost columns otherwise is refused).
/// Refused, naming both pipelines and the way out, unless `adopt`.
pub fn admit(
    recorded: Option<&str>,
    pipeline: &Pipeline,
    adopt: bool,
    location: &str,
) -> Result<Grown> {
    let Some(text) = recorded else {
        return Ok(Grown::new());
    };
    let now = Shape::of(pipeline);
    let Some(then) = Shape::from_json(text) else {
        return Err(WarehouseError::OtherPipeline {
            location: location.to_string(),
            message:
                "its recorded pipeline is unreadable; pass --adopt-pipeline to record this one"
                    .into(),
        });
    };
    match now.change_from(&then) {
        ShapeChange::Same => Ok(Grown::new()),
        ShapeChange::Grown { columns } => Ok(columns
            .into_iter()
            .map(|(table, column, _)| (table, column))
            .collect()),
        ShapeChange::Different(_) if adopt => Ok(Grown::new()),
        ShapeChange::Different(why) if then.describe() == now.describe() => {
            Err(WarehouseError::OtherPipeline {
                location: location.to_string(),
                message: format!(
                    "its pipeline changed in a way Rollcall cannot migrate: {why}. Pass the \
                     pipeline file it was made with, or give the processor a new \
                     output_table (--adopt-pipeline then records this pipeline)"
                ),
            })
        }
        ShapeChange::Different(why) => Err(WarehouseError::OtherPipeline {
            location: location.to_string(),
            message: format!(
                "it was made for {}, and this run uses {} ({why}). Pass that pipeline's \
                 file with --pipeline, or --adopt-pipeline if this pipeline is meant to \
                 replace it (the store keeps the old tables and adds the new ones)",
                then.describe(),
                now.describe()
            ),
        }),
    }
}

/// What a store records for `pipeline`.
pub fn recorded(pipeline: &Pipeline) -> String {
    Shape::of(pipeline).to_json()
}
