-- Job checkpoints live in the warehouse (not /tmp): one row per (job, cell).
CREATE TABLE rollcall_meta.job_cells (
    job_id VARCHAR NOT NULL,
    processor_name VARCHAR NOT NULL,
    analysis_date DATE NOT NULL,
    state VARCHAR NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (job_id, processor_name, analysis_date)
);
