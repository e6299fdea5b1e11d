-- Tokens: only the blake3 of the secret is stored.
CREATE TABLE tokens (
    id          TEXT PRIMARY KEY,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'tutor', 'marketing')),
    name        TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Learners (filled in by issue 4); photos may only name learners on record.
CREATE TABLE learners (
    id          TEXT PRIMARY KEY,
    given_name  TEXT NOT NULL,
    family_name TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Photos: the scrubbed object's key and fingerprints; never the upload's name or metadata.
CREATE TABLE photos (
    id              TEXT PRIMARY KEY,
    object_key      TEXT NOT NULL,
    format          TEXT NOT NULL,
    width           BIGINT NOT NULL,
    height          BIGINT NOT NULL,
    byte_size       BIGINT NOT NULL,
    blake3          TEXT NOT NULL,
    original_blake3 TEXT NOT NULL UNIQUE,
    phash           TEXT NOT NULL,
    removed         TEXT NOT NULL,
    caption         TEXT NOT NULL,
    alt_text        TEXT NOT NULL,
    all_tagged      BOOLEAN NOT NULL,
    uploaded_by     TEXT NOT NULL REFERENCES tokens (id),
    created_at      BIGINT NOT NULL
);
CREATE INDEX photos_object_key ON photos (object_key);

CREATE TABLE photo_learners (
    photo_id   TEXT NOT NULL REFERENCES photos (id),
    learner_id TEXT NOT NULL REFERENCES learners (id),
    PRIMARY KEY (photo_id, learner_id)
);

CREATE TABLE photo_purposes (
    photo_id TEXT NOT NULL REFERENCES photos (id),
    purpose  TEXT NOT NULL,
    PRIMARY KEY (photo_id, purpose)
);

-- The audit log: append-only, each row chained to the previous by blake3.
CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    details   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
