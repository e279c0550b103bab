-- Ferry state store, migration 6: a run records the upper bound its source
-- put on the incremental read and why (`lag: auto`'s oldest open
-- transaction, a fixed lag, or the snapshot of `cursor: xmin`), as the run
-- summary showed it; NULL for unbounded reads and runs recorded before.

ALTER TABLE ferry_runs ADD COLUMN bound TEXT NULL;
