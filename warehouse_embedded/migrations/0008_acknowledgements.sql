-- Acknowledgements (issue [N] 1): known gaps, of one entity of a cell or of
-- the whole cell (entity_id NULL), with why, who, when and until when.
-- Ended ones are kept (revoked, or the entity's state changed).
CREATE TABLE rollcall_meta.acknowledgements (
    id VARCHAR PRIMARY KEY,
    processor_code VARCHAR NOT NULL,
    cell_date DATE NOT NULL,
    entity_id VARCHAR,
    reason VARCHAR NOT NULL,
    note VARCHAR NOT NULL,
    ticket_url VARCHAR,
    created_by VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP,
    ended_by VARCHAR,
    end_reason VARCHAR
);
