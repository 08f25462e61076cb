-- A running job's lease: renewed by its process while it runs, so another
-- process can tell a live job from one whose process died.
CREATE TABLE rollcall_meta.job_leases (
    job_id VARCHAR PRIMARY KEY,
    heartbeat_at TIMESTAMP NOT NULL
);
