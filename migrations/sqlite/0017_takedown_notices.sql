-- Takedowns no longer depend on marketing happening to sign in: marketing and the safeguarding
-- leads are emailed when one is owed, and again when it is still owed past the overdue setting.
-- Each column says when that message was queued; setting it and queuing the messages happen in one
-- transaction, under the chain lock, so each is sent once however many replicas look.
ALTER TABLE takedowns ADD COLUMN owed_told_at INTEGER;
ALTER TABLE takedowns ADD COLUMN overdue_told_at INTEGER;
CREATE INDEX takedowns_untold ON takedowns (done_at, owed_told_at, overdue_told_at);
