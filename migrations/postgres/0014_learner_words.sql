-- Learner search matches every word typed, each folded as the name check folds names
-- (policy::search): the stored text becomes the learner's folded words, so every row is folded
-- again by the service right after migrating (search_text NULL is what it refolds). sort_key
-- lists learners by folded family then given name (Öztürk among the Os, not after Z), written
-- with the search text, compared byte for byte (COLLATE "C") as SQLite compares it, whatever the
-- database's collation; indexed with id so a search's ORDER BY … LIMIT reads in order.
ALTER TABLE learners ADD COLUMN sort_key TEXT COLLATE "C";
UPDATE learners SET search_text = NULL WHERE erased_at IS NULL;
UPDATE learners SET sort_key = '' WHERE erased_at IS NOT NULL;
CREATE INDEX learners_by_sort_key ON learners (sort_key, id);
