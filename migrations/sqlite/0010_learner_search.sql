-- Learner search matches a folded copy of the names (policy::search::fold), written by the
-- service with every insert and correction: SQLite's LOWER() folds ASCII only, so "zoe" missed
-- Zoë and "lukasz" Łukasz. Rows from before this migration are NULL here and are folded by the
-- service right after migrating (the fold is Unicode-aware Rust, not SQL). No index: the search
-- matches anywhere in a name ('%q%'), which no B-tree index can serve.
ALTER TABLE learners ADD COLUMN search_text TEXT;
