#!/usr/bin/env bash
# Start `mlflow server` with MLflow's basic-auth app, its config written from environment
# variables so that no password sits in an image, a manifest or a compose file.
#
# Used as the ENTRYPOINT of deploy/mlflow/Dockerfile (docker-compose.yaml and mlflow-k8s.yaml);
# every argument is passed on to `mlflow server`. Run by hand (after `pip install mlflow`):
#
#   MLFLOW_BACKEND_STORE_URI=sqlite:////tmp/mlflow.db \
#   MLFLOW_AUTH_DATABASE_URI=sqlite:////tmp/mlflow-auth.db \
#   MLFLOW_AUTH_ADMIN_PASSWORD=... MLFLOW_FLASK_SERVER_SECRET_KEY=... \
#   deploy/mlflow/entrypoint.sh --artifacts-destination /tmp/mlartifacts --host 127.0.0.1
#
# Environment:
#   MLFLOW_BACKEND_STORE_URI        read by `mlflow server` itself (postgresql://user:pw@host/db)
#   MLFLOW_AUTH_DATABASE_URI        where the users and permissions live (a second database)
#   MLFLOW_AUTH_ADMIN_USERNAME      admin created on first start (default: admin)
#   MLFLOW_AUTH_ADMIN_PASSWORD      its password, >= 12 characters (read by MLflow, not written)
#   MLFLOW_FLASK_SERVER_SECRET_KEY  CSRF key of the auth app; the same on every replica
#   MLFLOW_AUTH_DEFAULT_PERMISSION  what a user may do on others' experiments (default: READ)
#   MLFLOW_AUTH_CONFIG_PATH         where the generated config goes (default: /tmp/basic_auth.ini)
set -euo pipefail

: "${MLFLOW_AUTH_DATABASE_URI:?set MLFLOW_AUTH_DATABASE_URI (database of MLflow users)}"
: "${MLFLOW_AUTH_ADMIN_PASSWORD:?set MLFLOW_AUTH_ADMIN_PASSWORD (admin password, >= 12 characters)}"
: "${MLFLOW_FLASK_SERVER_SECRET_KEY:?set MLFLOW_FLASK_SERVER_SECRET_KEY (random string)}"

config="${MLFLOW_AUTH_CONFIG_PATH:-/tmp/basic_auth.ini}"  # generated, readable by this user only
# configparser treats '%' as interpolation: double it (URL-encoded passwords contain '%').
database_uri="${MLFLOW_AUTH_DATABASE_URI//%/%%}"
umask 077
cat > "$config" <<EOF
[mlflow]
default_permission = ${MLFLOW_AUTH_DEFAULT_PERMISSION:-READ}
database_uri = ${database_uri}
admin_username = ${MLFLOW_AUTH_ADMIN_USERNAME:-admin}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
EOF
export MLFLOW_AUTH_CONFIG_PATH="$config"

exec mlflow server --app-name basic-auth "$@"
