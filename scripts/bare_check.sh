#!/usr/bin/env bash
# scripts/bare_check.sh: runs .ci/run from a clean clone of HEAD inside a
# minimal Debian 12 root made by debootstrap, so that an install step that
# only works because this machine already has something shows up here, not
# in CI on a new machine. A developer's check (about a minute), not part of
# the test command. Run as root.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ds_require_root
command -v debootstrap >/dev/null || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
}

ROOT=$(mktemp -d /tmp/directus_sync_bare.XXXXXX)
chmod 755 "$ROOT"   # it becomes /, which postgres must traverse
cleanup() {
    umount -R "$ROOT" 2>/dev/null || true
    rm -rf --one-file-system "$ROOT"
}
trap cleanup EXIT

ds_say "debootstrap bookworm (minbase) into $ROOT"
debootstrap --variant=minbase bookworm "$ROOT" http://deb.debian.org/debian >/dev/null
cp /etc/apt/sources.list.d/debian.sources "$ROOT/etc/apt/sources.list.d/" 2>/dev/null || true
cp /etc/resolv.conf "$ROOT/etc/"
# The machine's own CAs, as a new machine of the same network has them: the
# npm registry may be reached through a TLS-inspecting proxy. The root's
# ca-certificates package takes them in when our scripts install it.
if [ -d /usr/local/share/ca-certificates ]; then
    mkdir -p "$ROOT/usr/local/share/ca-certificates"
    cp -r /usr/local/share/ca-certificates/. "$ROOT/usr/local/share/ca-certificates/"
fi
# The root is a mount point of its own, private: inside it, scripts/pg_root.sh
# gives each nested root a private mount namespace, which needs / to be a
# mount point (unshare --propagation private fails on a plain directory).
mount --bind "$ROOT" "$ROOT"
mount --make-private "$ROOT"
mount -t proc proc "$ROOT/proc"
mount -t sysfs sys "$ROOT/sys"
mount --rbind /dev "$ROOT/dev"

git clone -q "$DS_ROOT" "$ROOT/root/repo"
ds_say "running .ci/run in the bare root"
# The switches of scripts/test.sh pass through; the roots of the other
# PostgreSQL versions are made inside this one (scripts/pg_root.sh).
chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root CI=true \
    ${DS_PG_VERSIONS:+DS_PG_VERSIONS="$DS_PG_VERSIONS"} ${DS_TEST_PORT:+DS_TEST_PORT="$DS_TEST_PORT"} \
    ${KEEP_TEST_DIR:+KEEP_TEST_DIR="$KEEP_TEST_DIR"} \
    bash -c 'cd /root/repo && bash .ci/run'
