-- Browser sessions of the pages: the cookie holds a random 256-bit secret of which only the blake3 is
-- stored; the session acts as the token it was opened with, and ends at expires_at or on sign-out.
CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    token_id   TEXT NOT NULL REFERENCES tokens (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
-- The tutor's "my photos" page lists a token's uploads, newest first.
CREATE INDEX photos_uploaded_by ON photos (uploaded_by, created_at);
