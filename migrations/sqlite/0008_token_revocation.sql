-- Tokens can expire (expires_at, Unix ms; NULL: never) and be revoked (revoked_at). Either stops the
-- token and every session opened with it; the row stays, so the audit log's actor ids keep a name.
ALTER TABLE tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE tokens ADD COLUMN revoked_at INTEGER;
-- A revocation deletes the token's sessions.
CREATE INDEX sessions_token ON sessions (token_id);
