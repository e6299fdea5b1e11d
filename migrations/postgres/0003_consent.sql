-- Consent: an append-only history of events per learner. Nothing here is ever updated or deleted.
CREATE TABLE consent_events (
    id             TEXT PRIMARY KEY,
    learner_id     TEXT NOT NULL REFERENCES learners (id),
    kind           TEXT NOT NULL CHECK (kind IN ('granted', 'refused', 'withdrawn')),
    -- Comma-separated purpose names, sorted.
    purposes       TEXT NOT NULL,
    giver_kind     TEXT NOT NULL CHECK (giver_kind IN ('learner', 'guardian')),
    guardian_id    TEXT REFERENCES guardians (id),
    given_at       BIGINT NOT NULL,
    expires_at     BIGINT,
    form_version   TEXT NOT NULL,
    form_text_hash TEXT NOT NULL,
    method         TEXT NOT NULL,
    evidence       TEXT NOT NULL,
    recorded_by    TEXT NOT NULL,
    recorded_at    BIGINT NOT NULL,
    CHECK ((giver_kind = 'guardian') = (guardian_id IS NOT NULL)),
    CHECK (kind = 'granted' OR expires_at IS NULL)
);
CREATE INDEX consent_events_learner ON consent_events (learner_id);

-- Withdrawal links: one per grant; only the blake3 of the token is kept. Using a link is the one
-- state change here, so it lives apart from the append-only events.
CREATE TABLE withdrawal_links (
    token_hash    TEXT PRIMARY KEY,
    grant_id      TEXT NOT NULL UNIQUE REFERENCES consent_events (id),
    used_at       BIGINT,
    withdrawal_id TEXT REFERENCES consent_events (id)
);

-- Each purpose of a photo carries its current status, re-evaluated whenever what it depends on
-- changes; detail is JSON: {"reasons": [...], "learners": [...]}.
ALTER TABLE photo_purposes ADD COLUMN state TEXT NOT NULL DEFAULT 'held';
ALTER TABLE photo_purposes ADD COLUMN detail TEXT NOT NULL DEFAULT '{"reasons":["no_consent"],"learners":[]}';
ALTER TABLE photo_purposes ADD COLUMN changed_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX photo_purposes_state ON photo_purposes (state, photo_id);
CREATE INDEX photo_learners_learner ON photo_learners (learner_id);
