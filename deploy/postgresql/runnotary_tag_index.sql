-- A partial index on the tags runnotary looks runs up by, in MLflow's PostgreSQL backend store.
--
-- MLflow indexes tags by (key, run_uuid) only, so a filter such as tags.`runnotary.event_id` = '<id>'
-- reads every row of that key: the lookup grows with the number of runs. This index serves the
-- event-id lookup of every incoming event, the seed-family filter of pairing and the candidate lookup of
-- meetings with an index probe instead. It is partial so it holds only these keys, whose values runnotary bounds
-- (event id <= 256 characters, seed family and candidate id <= 128): a B-tree entry must stay under
-- ~2.7 kB, and other tags (up to 8,000 characters) are left out of it. The dataset hash is left out on
-- purpose: a few data sets are shared by many runs, and an index on it tempts the planner into reading
-- every run of a data set instead of the few of a seed family.
--
-- Operations change, not a migration: MLflow does not know the index; `mlflow db upgrade` leaves it
-- alone. CONCURRENTLY builds it without blocking writes (run it outside a transaction). Measured with
-- `python -m benchmarks.e2e` (see the README's throughput section).
CREATE INDEX CONCURRENTLY IF NOT EXISTS runnotary_tags_lookup
    ON tags (key, value)
    WHERE key IN ('runnotary.event_id', 'runnotary.seed_family', 'runnotary.candidate_id');
