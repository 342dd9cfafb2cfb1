-- Runs once, when the postgres volume is first initialised (docker-entrypoint-initdb.d).
-- The Airflow metadata lives in the database named by POSTGRES_DB; the warehouse
-- (staging, core, recon, audit schemas, created by the `migrate` task) in `credsync`,
-- owned by the same user (POSTGRES_USER runs this script).
CREATE DATABASE credsync;
