-- The audit log page filters by action and by day: each filter reads an index, newest first, not
-- the whole chain. (Filtering by learner reads audit_log_subject.)
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_at ON audit_log (at, seq);
