-- A guardian an admin removed stays on record (their refusals and withdrawals keep counting, and
-- the consent history names them); removed_at (Unix ms) marks that their grants no longer count.
ALTER TABLE guardians ADD COLUMN removed_at BIGINT;
