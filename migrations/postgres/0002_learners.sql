-- Learners as the MIS knows them, and their guardians.
ALTER TABLE learners ADD COLUMN preferred_name TEXT;
ALTER TABLE learners ADD COLUMN date_of_birth TEXT;
ALTER TABLE learners ADD COLUMN external_ref TEXT;
ALTER TABLE learners ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX learners_external_ref ON learners (external_ref) WHERE external_ref IS NOT NULL;

CREATE TABLE guardians (
    id         TEXT PRIMARY KEY,
    learner_id TEXT NOT NULL REFERENCES learners (id),
    name       TEXT NOT NULL,
    email      TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX guardians_learner ON guardians (learner_id);
