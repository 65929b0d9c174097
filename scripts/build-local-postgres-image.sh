#!/usr/bin/env bash
# Build a stand-in for the official postgres image from Debian's postgresql package, for
# machines that cannot pull postgres:17-bookworm (offline CI, a proxy that blocks Docker
# Hub). The generated compose test of a postgresql bake runs it as compose.yaml's
# `postgres` service (POSTGRES_IMAGE), and builds it itself when it is absent.
#
#   scripts/build-local-postgres-image.sh [BASE_IMAGE] [IMAGE_NAME]
#   export POSTGRES_IMAGE=IMAGE_NAME
#
# BASE_IMAGE: any Debian image with a reachable mirror (default: the local Python base,
# scripts/build-local-base-image.sh; Debian trixie brings PostgreSQL 17, the version
# compose.yaml names). The Dockerfile and entrypoint live with the generated tests
# (tests/serving/harness/postgres_image), the one copy both builds use.
set -euo pipefail
cd "$(dirname "$0")/.."

base="${1:-local/debian-trixie-python3:3.13}"
image="${2:-local/debian-postgresql:17}"
context="{{cookiecutter.project_slug}}/tests/serving/harness/postgres_image"

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "postgres stand-in image $image already present"
  exit 0
fi
echo "building $image on $base (Debian's postgresql)"
docker build --quiet --build-arg BASE_IMAGE="$base" --tag "$image" "$context" >/dev/null
echo "built $image"
