#!/usr/bin/env bash
# Derive soar-partman/SUITE-db from soar-partman/SUITE: the same systemd host with the distribution's
# PostgreSQL, PostGIS and psycopg2 installed, so that the scenarios that do not test installing them
# (all but provision) skip that download. PostgreSQL's own cluster comes with it, stopped cleanly.
# Usage: tests/images/bake.sh SUITE     (REBUILD=1 to rebuild)
set -euo pipefail
suite=${1:?usage: bake.sh SUITE}
base=soar-partman/${suite}:latest
image=soar-partman/${suite}-db:latest
name=soar-partman-bake-$suite

if docker image inspect "$image" >/dev/null 2>&1 && [ -z "${REBUILD:-}" ] \
   && [ "$(docker image inspect -f '{{.Created}}' "$image")" \> "$(docker image inspect -f '{{.Created}}' "$base")" ]; then
  echo "image $image exists (REBUILD=1 to rebuild)"
  exit 0
fi
trap 'docker rm -f "$name" >/dev/null 2>&1 || true' EXIT
docker rm -f "$name" >/dev/null 2>&1 || true
SOAR_IMAGE=$base "$(dirname "$0")/start-host.sh" "$name" "$suite" >/dev/null
docker exec -e DEBIAN_FRONTEND=noninteractive "$name" sh -ec '
  major=$(apt-cache depends postgresql | sed -n "s/.*Depends: postgresql-\([0-9][0-9]*\)$/\1/p" | head -n 1)
  apt-get install -y -qq postgresql "postgresql-$major-postgis-3" python3-psycopg2 acl >/dev/null
  systemctl stop postgresql
  rm -rf /var/cache/apt/archives/*.deb'
docker stop "$name" >/dev/null
docker commit "$name" "$image" >/dev/null
echo "built $image"
