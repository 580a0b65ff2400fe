#!/usr/bin/env bash
# Build a local systemd test-host image for one Debian suite: no registry is reachable,
# so the root filesystem comes from debootstrap and enters Docker through `docker import`.
# Usage: tests/images/build.sh SUITE [IMAGE]     (IMAGE defaults to soar-partman/SUITE:latest)
set -euo pipefail
suite=${1:?usage: build.sh SUITE [IMAGE]}
image=${2:-soar-partman/${suite}:latest}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if docker image inspect "$image" >/dev/null 2>&1 && [ -z "${REBUILD:-}" ]; then
  echo "image $image exists (REBUILD=1 to rebuild)"
  exit 0
fi

root=$(mktemp -d "/var/tmp/soar-partman-${suite}.XXXXXX")
trap 'rm -rf "$root"' EXIT
# python3-apt lets Ansible's apt module work without bootstrapping itself;
# cron, dbus and sudo are what a real database host has.
packages=acl,systemd,systemd-sysv,dbus,python3,python3-apt,sudo,ca-certificates,procps,iproute2,cron,logrotate,gnupg,curl,locales
echo "debootstrap $suite into $root"
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$root.log" 2>&1 || {
  tail -30 "$root.log"; exit 1; }
rm -f "$root.log"

# Units that make no sense in a container, or that would wait forever for hardware.
for unit in systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
            getty@tty1.service console-getty.service systemd-firstboot.service \
            systemd-remount-fs.service sys-kernel-debug.mount sys-kernel-tracing.mount; do
  ln -sf /dev/null "$root/etc/systemd/system/$unit"
done
echo "en_US.UTF-8 UTF-8" >"$root/etc/locale.gen"
chroot "$root" locale-gen >/dev/null
echo 'LANG=C.UTF-8' >"$root/etc/default/locale"
: >"$root/etc/machine-id"
# Keep the package lists: apt modules with cache_valid_time would otherwise skip the update
# and find no packages.
rm -rf "$root"/var/cache/apt/archives/*.deb

tar -C "$root" -c . | docker import \
  -c 'ENV container=docker' \
  -c 'CMD ["/sbin/init"]' \
  - "$image" >/dev/null
echo "built $image"
