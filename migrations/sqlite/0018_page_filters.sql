-- The pages filter without reading whole tables. The audit log page filters by action and by day:
-- each filter reads an index, newest first, not the whole chain (by learner reads audit_log_subject).
CREATE INDEX audit_log_action ON audit_log (action, seq);
CREATE INDEX audit_log_at ON audit_log (at, seq);
-- Marketing's "Published" tab lists what one officer published, newest first.
CREATE INDEX publications_by ON publications (published_by, published_at);
