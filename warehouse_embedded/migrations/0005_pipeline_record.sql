-- The pipeline the store was made with (domain::pipeline::shape::Shape as
-- JSON, one row): another pipeline is refused at open unless adopted.
CREATE TABLE rollcall_meta.pipeline_record (
    shape VARCHAR NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);
