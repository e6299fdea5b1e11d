-- The publishing queue lives on photo_purposes: each (photo, purpose) is one item with a stable id,
-- a lease while marketing holds it, and where it went once published.
ALTER TABLE photo_purposes ADD COLUMN item_id TEXT;
ALTER TABLE photo_purposes ADD COLUMN claimed_by TEXT;
ALTER TABLE photo_purposes ADD COLUMN lease_expires_at INTEGER;
ALTER TABLE photo_purposes ADD COLUMN published_url TEXT;
ALTER TABLE photo_purposes ADD COLUMN published_channel TEXT;
ALTER TABLE photo_purposes ADD COLUMN published_at INTEGER;
UPDATE photo_purposes SET item_id = photo_id || ':' || purpose WHERE item_id IS NULL;
CREATE UNIQUE INDEX photo_purposes_item ON photo_purposes (item_id);

-- What must come down, and where: made in the same transaction as the withdrawal that causes it.
CREATE TABLE takedowns (
    id          TEXT PRIMARY KEY,
    photo_id    TEXT NOT NULL REFERENCES photos (id),
    purpose     TEXT NOT NULL,
    url         TEXT NOT NULL,
    channel     TEXT NOT NULL,
    reasons     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    done_at     INTEGER,
    done_by     TEXT
);
CREATE INDEX takedowns_open ON takedowns (done_at, created_at);

-- A photo whose image was deleted (after a withdrawal or refusal) keeps its row and fingerprints,
-- so a re-upload is recognised; only the image goes.
ALTER TABLE photos ADD COLUMN image_deleted_at INTEGER;

-- A new upload that looks like (perceptual hash) a photo of a learner who said no is held for that
-- learner while their no stands, tagged or not.
CREATE TABLE photo_blocks (
    photo_id         TEXT NOT NULL REFERENCES photos (id),
    learner_id       TEXT NOT NULL REFERENCES learners (id),
    matched_photo_id TEXT NOT NULL REFERENCES photos (id),
    PRIMARY KEY (photo_id, learner_id)
);
CREATE INDEX photo_purposes_queue_order ON photo_purposes (purpose, state, changed_at, item_id);
CREATE INDEX photo_purposes_leases ON photo_purposes (purpose, state, lease_expires_at, item_id);
