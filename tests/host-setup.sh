#!/usr/bin/env bash
# What `make demo`, `make test` and .ci/run need on the machine itself, installed and started here
# so that nothing is done by hand: Docker (dockerd started when it does not answer), debootstrap for
# the test-host images, shellcheck for ansible-test sanity, python3-venv for .venv. Debian only.
# Idempotent and quiet when everything is there already.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

say() { printf '=== host set-up: %s\n' "$*"; }

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v make >/dev/null || missing+=(make)
command -v git >/dev/null || missing+=(git)
command -v shellcheck >/dev/null || missing+=(shellcheck)   # ansible-test sanity skips it when absent
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing: ${missing[*]}. Install them as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  say "installing ${missing[*]} (apt-get)"
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Docker does not answer. Start it as root (systemctl start docker, or dockerd &)" >&2
    exit 1
  fi
  log=/var/log/soar-partman-dockerd.log
  if command -v systemctl >/dev/null && systemctl start docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    say "started docker.service"
  else
    say "starting dockerd (log: $log)"
    nohup dockerd >"$log" 2>&1 &
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { tail -20 "$log" >&2; echo "dockerd did not start (see $log)" >&2; exit 1; }
  fi
fi
