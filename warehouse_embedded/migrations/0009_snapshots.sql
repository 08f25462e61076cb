-- Snapshots (issue [O] 1): a frozen view and what its drill-downs showed,
-- kept as one row (the body is the engine's encoding), with who took it,
-- when, and an optional note.
CREATE TABLE rollcall_meta.snapshots (
    id VARCHAR PRIMARY KEY,
    taken_at TIMESTAMP NOT NULL,
    taken_by VARCHAR NOT NULL,
    note VARCHAR NOT NULL,
    start_date DATE NOT NULL,
    end_date DATE NOT NULL,
    processors VARCHAR NOT NULL,
    cells BIGINT NOT NULL,
    not_ok BIGINT NOT NULL,
    bytes BIGINT NOT NULL,
    body VARCHAR NOT NULL
);
