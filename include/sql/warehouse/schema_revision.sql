-- The schema revision Alembic recorded; the runtime role may read it (migration 0011), never write it.
SELECT version_num FROM audit.alembic_version
