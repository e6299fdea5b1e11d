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
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX sign_in_links_token ON sign_in_links (token_id, created_at);

-- The outbox carries staff mail too (sign-in links, takedowns owed and overdue): such a message is
-- about no learner (learner_id NULL) and goes to a member of staff (staff_id).
ALTER TABLE outbox ALTER COLUMN learner_id DROP NOT NULL;
ALTER TABLE outbox DROP CONSTRAINT outbox_kind_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_kind_check CHECK (kind IN ('request', 'reminder', 'renewal', 'adult',
    'confirmation', 'sign_in', 'takedown_owed', 'takedown_overdue'));
ALTER TABLE outbox ADD COLUMN staff_id TEXT REFERENCES tokens (id);
ALTER TABLE outbox ADD CONSTRAINT outbox_about_one CHECK ((learner_id IS NULL) <> (staff_id IS NULL));
CREATE INDEX outbox_staff ON outbox (staff_id, state);
