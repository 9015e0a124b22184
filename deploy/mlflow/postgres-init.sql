-- Run once by the postgres image on an empty data volume (docker-compose.yaml mounts it into
-- /docker-entrypoint-initdb.d/): the database of MLflow's basic-auth app (users, permissions),
-- kept apart from the tracking store `mlflow`. On a managed PostgreSQL run it by hand:
--   psql "postgresql://mlflow@HOST:5432/postgres" -f deploy/mlflow/postgres-init.sql
CREATE DATABASE mlflow_auth;
