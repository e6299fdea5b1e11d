-- Staff accounts: a member of staff with a name, an email address and a role, who signs in with a
-- one-time link sent by email instead of pasting a token. An account is a row of `tokens` with an
-- email (so sessions, revocation, the audit log's actor names and every role check work for both
-- alike); its secret hash is that of a random secret nobody was ever given, so it never works as a
-- bearer token. Addresses are kept lower-cased; one live account per address.
ALTER TABLE tokens ADD COLUMN email TEXT;
CREATE UNIQUE INDEX tokens_live_email ON tokens (email) WHERE email IS NOT NULL AND revoked_at IS NULL;

-- One-time sign-in links: only the blake3 of the link's secret is kept. A link works once
-- (used_at), until expires_at, and only while its account is live; revoking the account deletes them.
CREATE TABLE sign_in_links (
    id_hash    TEXT PRIMARY KEY,
    token_id   TEXT NOT NULL REFERENCES tokens (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX sign_in_links_token ON sign_in_links (token_id, created_at);

-- The outbox carries staff mail too (sign-in links, takedowns owed and overdue): such a message is
-- about no learner (learner_id NULL) and goes to a member of staff (staff_id). SQLite cannot change
-- a column's constraints in place, so the table is rebuilt with the same rows.
CREATE TABLE outbox_next (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('request', 'reminder', 'renewal', 'adult', 'confirmation',
                                                  'sign_in', 'takedown_owed', 'takedown_overdue')),
    learner_id      TEXT REFERENCES learners (id),
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
    done_at         INTEGER,
    staff_id        TEXT REFERENCES tokens (id),
    CHECK ((learner_id IS NULL) <> (staff_id IS NULL))
);
INSERT INTO outbox_next (id, kind, learner_id, recipient_id, to_name, to_address, subject, body, link, state,
                         attempts, next_attempt_at, lease_until, last_error, created_at, done_at)
SELECT id, kind, learner_id, recipient_id, to_name, to_address, subject, body, link, state,
       attempts, next_attempt_at, lease_until, last_error, created_at, done_at
FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_next RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_learner ON outbox (learner_id);
CREATE INDEX outbox_recipient ON outbox (recipient_id, state);
CREATE INDEX outbox_staff ON outbox (staff_id, state);
