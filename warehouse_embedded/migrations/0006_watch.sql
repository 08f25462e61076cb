-- Evaluations that remember (issue [M]): each evaluation, the cells it
-- kept (open ones and those it found resolved), and alert deliveries. (The
-- evaluator's lease is in memory: DuckDB locks the file for one process.)
CREATE TABLE rollcall_meta.evaluations (
    id VARCHAR PRIMARY KEY,
    trigger_name VARCHAR NOT NULL,
    as_of TIMESTAMP NOT NULL,
    window_start DATE NOT NULL,
    window_end DATE NOT NULL,
    started_at TIMESTAMP NOT NULL,
    duration_ms BIGINT NOT NULL,
    open_cells BIGINT NOT NULL,
    summary VARCHAR NOT NULL
);
CREATE TABLE rollcall_meta.evaluation_cells (
    evaluation_id VARCHAR NOT NULL,
    processor_code VARCHAR NOT NULL,
    cell_date DATE NOT NULL,
    expected BIGINT NOT NULL,
    records BIGINT NOT NULL,
    expected_failures BIGINT NOT NULL,
    investigate BIGINT NOT NULL,
    unaccounted BIGINT NOT NULL,
    late BOOLEAN NOT NULL,
    change VARCHAR NOT NULL,
    open_since TIMESTAMP NOT NULL,
    entities VARCHAR NOT NULL,
    open_entities BIGINT NOT NULL,
    new_entities VARCHAR NOT NULL,
    resolved_entities VARCHAR NOT NULL
);
CREATE TABLE rollcall_meta.alert_deliveries (
    id VARCHAR PRIMARY KEY,
    evaluation_id VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    sent_at TIMESTAMP NOT NULL,
    cells BIGINT NOT NULL,
    http_status BIGINT,
    error VARCHAR,
    attempts BIGINT NOT NULL
);
