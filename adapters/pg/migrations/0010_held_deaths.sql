-- A command held behind a parked post keeps the deaths its runs alone had
-- before it was held (they were counted at its partition, which then moved
-- on), so that the drain's count of its runs goes on from there and it is
-- given up after max_attempts deaths in all. Rows held before this count
-- none: one more try, never one less.
ALTER TABLE held_commands ADD COLUMN deaths integer NOT NULL DEFAULT 0;
