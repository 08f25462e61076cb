-- Each set of open entities' list kept once (issue [M] 1): an evaluation's
-- cell refers to it by key (`domain::watch::OpenSet::names_key`), so an
-- unchanged cell is kept without writing its names again.
ALTER TABLE rollcall_meta.evaluation_cells ADD COLUMN names_key VARCHAR;
CREATE TABLE rollcall_meta.evaluation_names (
    names_key VARCHAR PRIMARY KEY,
    names VARCHAR NOT NULL
);
