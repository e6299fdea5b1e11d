-- Families answer consent requests themselves (issue 13).

-- An adult learner's own address (they answer for themselves from 18), and the groups (class,
-- course, cohort) a learner belongs to: requests and coverage are made per group.
ALTER TABLE learners ADD COLUMN email TEXT;
CREATE TABLE learner_groups (
    learner_id TEXT NOT NULL REFERENCES learners (id),
    group_name TEXT NOT NULL,
    PRIMARY KEY (learner_id, group_name)
);
CREATE INDEX learner_groups_group ON learner_groups (group_name, learner_id);

-- The exact words a consent form showed, by their blake3: an answer records the hash, and the
-- words stay here so the hash can always be read back. Never updated.
CREATE TABLE form_texts (
    hash       TEXT PRIMARY KEY,
    body       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- A request for consent, sent to every recipient the age rule names at the moment of sending.
-- A renewal names the grant it renews (once per grant); a learner's own request on their 18th
-- birthday names them (once per learner): the unique columns keep replicas from sending either
-- twice.
CREATE TABLE consent_requests (
    id               TEXT PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('request', 'renewal', 'adult')),
    purposes         TEXT NOT NULL,
    group_name       TEXT,
    form_version     TEXT NOT NULL,
    form_text_hash   TEXT NOT NULL REFERENCES form_texts (hash),
    created_by       TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    renews_grant_id  TEXT UNIQUE REFERENCES consent_events (id),
    adult_learner_id TEXT UNIQUE REFERENCES learners (id)
);
CREATE INDEX consent_requests_created ON consent_requests (created_at);

-- Who a request went to: one row per guardian (or adult learner) asked, or one `no_contact` row
-- for a learner nobody could be asked for.
CREATE TABLE request_recipients (
    id             TEXT PRIMARY KEY,
    request_id     TEXT NOT NULL REFERENCES consent_requests (id),
    learner_id     TEXT NOT NULL REFERENCES learners (id),
    recipient      TEXT NOT NULL CHECK (recipient IN ('guardian', 'learner')),
    guardian_id    TEXT REFERENCES guardians (id),
    status         TEXT NOT NULL CHECK (status IN ('queued', 'no_contact', 'answered')),
    reminders_sent INTEGER NOT NULL DEFAULT 0,
    last_sent_at   INTEGER,
    answered_at    INTEGER,
    CHECK (guardian_id IS NULL OR recipient = 'guardian')
);
CREATE INDEX request_recipients_request ON request_recipients (request_id);
CREATE INDEX request_recipients_learner ON request_recipients (learner_id);
CREATE INDEX request_recipients_due ON request_recipients (status, last_sent_at);

-- The links to a recipient's form: only the blake3 of each token. A reminder brings a new link
-- to the same form (the first keeps working): a token is never kept where it could be read back.
CREATE TABLE request_links (
    token_hash   TEXT PRIMARY KEY,
    recipient_id TEXT NOT NULL REFERENCES request_recipients (id),
    created_at   INTEGER NOT NULL
);
CREATE INDEX request_links_recipient ON request_links (recipient_id);

-- The transactional outbox: every message is written in the transaction of the event that causes
-- it, and delivered by a sender that leases rows (`lease_until`), so a crash or a replica's death
-- delays a message but never loses it. `id` is the Message-ID's local part, so a retry after a
-- crash is recognisable. The body (it holds a link) is emptied once the message is delivered or
-- posted as a letter.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('request', 'reminder', 'renewal', 'adult', 'confirmation')),
    learner_id      TEXT NOT NULL REFERENCES learners (id),
    recipient_id    TEXT REFERENCES request_recipients (id),
    to_name         TEXT NOT NULL,
    to_address      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    link            TEXT,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'posted')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    done_at         INTEGER
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_learner ON outbox (learner_id);
