"""Everything that talks to PostgreSQL: repositories (all SQL of the shard lives here) and
migrations."""
