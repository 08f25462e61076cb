-- Before/after cell counts of a job's touched cells (JSON owned by the engine).
ALTER TABLE rollcall_meta.jobs ADD COLUMN snapshot VARCHAR;
