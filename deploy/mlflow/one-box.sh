#!/usr/bin/env bash
# One-machine MLflow tracking server: sqlite backend, local artifact folder, bound to 127.0.0.1.
# Studies on this machine (local Ray, or a Ray cluster whose nodes reach it through an ssh
# tunnel) log to http://127.0.0.1:5000 instead of each writing its own sqlite file.
#
#   deploy/mlflow/one-box.sh                 # data in ~/mlflow-server (MLFLOW_HOME), port 5000
#   MLFLOW_PORT=5001 deploy/mlflow/one-box.sh
#   # then, in the study file:  [mlflow] tracking_uri = "http://127.0.0.1:5000"
#
# Needs `mlflow` on PATH (the project's venv has it). No authentication: keep it on 127.0.0.1;
# for a server other machines reach, use docker-compose.yaml (PostgreSQL, S3, basic auth).
set -euo pipefail

home="${MLFLOW_HOME:-$HOME/mlflow-server}"  # holds mlflow.db and mlartifacts/
port="${MLFLOW_PORT:-5000}"                 # the server's port
host="${MLFLOW_BIND:-127.0.0.1}"            # interface to bind: this machine only

mkdir -p "$home/mlartifacts"
home="$(cd "$home" && pwd)"  # sqlite URIs need an absolute path
echo "MLflow server: http://$host:$port  (backend sqlite:///$home/mlflow.db, artifacts $home/mlartifacts)"
exec mlflow server \
    --backend-store-uri "sqlite:///$home/mlflow.db" \
    --artifacts-destination "$home/mlartifacts" \
    --serve-artifacts \
    --host "$host" \
    --port "$port" \
    --workers "${MLFLOW_WORKERS:-2}"
