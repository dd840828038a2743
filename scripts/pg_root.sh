#!/usr/bin/env bash
# scripts/pg_root.sh: minimal Debian roots, one per PostgreSQL version, in
# which scripts/test.sh builds the Debian package, installs it and runs the
# tests of that version. Debian's own packages of each version come from the
# Debian release that has it: 15 from bookworm, 17 from trixie, 18 from forky.
# This machine's apt sources stay as they are (bookworm only).
#
#   pg_root.sh ensure VERSION
#       As root. Makes the root of VERSION under $DS_PG_ROOTS/VERSION/root
#       (default /var/cache/directus_sync/pg) with debootstrap --variant=minbase
#       and the packages below, unless it is there with the same pins (a stamp
#       holds their sha256: suite, variant, mirror, apt sources and options,
#       packages).
#       Prints the versions of its main packages (also kept in
#       $DS_PG_ROOTS/VERSION/versions). First time: 1 to 3 minutes, about
#       2 GB per root (the server-dev packages pull in clang and LLVM); then under a second.
#   pg_root.sh path VERSION
#       Prints the directory of the root.
#   pg_root.sh run VERSION COMMAND [ARG...]
#       As root. Runs COMMAND as root inside the root, in a mount namespace of
#       its own with /proc, /sys and /dev mounted: the mounts go away with
#       the last process of the namespace, whatever happens to the caller.
#       Works inside a chroot too (scripts/bare_check.sh runs the whole test
#       command in one).
#
# The roots are caches: anything may delete them. Two runs of one version
# take turns (flock on $DS_PG_ROOTS/VERSION.lock, held by `ensure` while it
# makes the root; scripts/test.sh holds it for the whole run of a version).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

DS_PG_ROOTS=${DS_PG_ROOTS:-/var/cache/directus_sync/pg}
DS_PG_MIRROR=${DS_PG_MIRROR:-http://deb.debian.org/debian}
DS_PG_VARIANT=minbase

# The pins of each version: the Debian suite, and the debootstrap script for
# it (bookworm's debootstrap has none for forky; sid's works for it).
declare -A SUITE=([15]=bookworm [17]=trixie [18]=forky)
declare -A SCRIPT=([15]=bookworm [17]=trixie [18]=sid)
# forky's Release file is served past its Valid-Until here (a testing suite
# whose Release is refreshed less often than it claims).
declare -A APT_OPTS=([15]="" [17]="" [18]="-o Acquire::Check-Valid-Until=false")

# What the build, the package and the tests need: the server and its
# development files, libcurl, pg_buildext and debhelper for the package,
# IPC::Run for the TAP tests, python3 for the fake Directus (and
# python3-psycopg2 for the peer Directus of t/060 and t/061), openssl for
# t/052 (postgresql-common pulls it in through ssl-cert), gdb for t/058,
# lintian to check the package (only where it is checked: 15).
pg_root_packages() {
    local v=$1
    echo "postgresql-$v postgresql-server-dev-$v postgresql-server-dev-all libcurl4-openssl-dev"
    echo "build-essential debhelper dpkg-dev fakeroot libipc-run-perl python3 python3-psycopg2 curl ca-certificates openssl gdb"
    [ "$v" = 15 ] && echo lintian
    return 0
}

# The apt sources of the root: the suite, and for a stable release (bookworm,
# trixie) its point and security updates too, as a machine of that release
# has them (forky is testing: no such suites).
pg_root_sources() {
    local v=$1 s=${SUITE[$1]}
    echo "deb $DS_PG_MIRROR $s main"
    if [ "$s" != forky ]; then
        echo "deb $DS_PG_MIRROR $s-updates main"
        echo "deb ${DS_PG_MIRROR%/debian}/debian-security $s-security main"
    fi
}

pg_root_usage() {
    sed -n '/^#   pg_root.sh ensure/,/^# The roots are caches/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

pg_root_check_version() {
    [ -n "${SUITE[$1]:-}" ] || ds_die "no Debian suite known for PostgreSQL $1 (known: ${!SUITE[*]})"
}

pg_root_stamp() {
    local v=$1
    { echo "suite ${SUITE[$v]} script ${SCRIPT[$v]} variant $DS_PG_VARIANT mirror $DS_PG_MIRROR"
      pg_root_sources "$v"
      echo "apt ${APT_OPTS[$v]}"
      pg_root_packages "$v"; } | sha256sum | cut -d' ' -f1
}

# pg_root_exec ROOT COMMAND...: COMMAND inside ROOT with proc, sys and dev,
# in a private mount namespace.
pg_root_exec() {
    local root=$1
    shift
    # In a chroot whose / is a plain directory, not a mount point, the
    # namespace cannot be made private: say how to fix that.
    if ! unshare --mount --propagation private true 2>/dev/null; then
        ds_die "cannot make a private mount namespace here (in a chroot, its root must be a mount point: mount --bind ROOT ROOT before chroot, as scripts/bare_check.sh does)"
    fi
    # shellcheck disable=SC2016 # the inner shell expands them
    unshare --mount --propagation private -- /bin/sh -ec '
        root=$1; shift
        mount -t proc proc "$root/proc"
        mount -t sysfs sys "$root/sys"
        mount --rbind /dev "$root/dev"
        exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
            LANG=C.UTF-8 LC_ALL=C.UTF-8 "$@"' sh "$root" "$@"
}

pg_root_ensure() {
    local v=$1 dir=$DS_PG_ROOTS/$1 stamp new start
    stamp=$(pg_root_stamp "$v")
    if [ "$(cat "$dir/root/.directus_sync_stamp" 2>/dev/null)" = "$stamp" ]; then
        cat "$dir/versions"
        return 0
    fi
    command -v debootstrap >/dev/null || {
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    }
    start=$SECONDS
    new=$dir/root.new
    rm -rf --one-file-system "$new" "$dir/root"
    mkdir -p "$new"
    chmod 755 "$new"    # it becomes /, which postgres must traverse
    ds_say "debootstrap ${SUITE[$v]} ($DS_PG_VARIANT) for PostgreSQL $v into $new"
    debootstrap --variant="$DS_PG_VARIANT" "${SUITE[$v]}" "$new" "$DS_PG_MIRROR" \
        "/usr/share/debootstrap/scripts/${SCRIPT[$v]}" >"$dir/debootstrap.log" 2>&1 \
        || { tail -n 30 "$dir/debootstrap.log" >&2; ds_die "debootstrap of ${SUITE[$v]} failed"; }
    pg_root_sources "$v" > "$new/etc/apt/sources.list"
    cp /etc/resolv.conf "$new/etc/resolv.conf"
    # As lib.sh does on the machine: no default cluster on port 5432.
    mkdir -p "$new/etc/postgresql-common/createcluster.d"
    echo 'create_main_cluster = false' > "$new/etc/postgresql-common/createcluster.d/directus_sync.conf"
    ds_say "installing PostgreSQL $v and the build and test packages into the root"
    # shellcheck disable=SC2046 # the package list is split on purpose
    pg_root_exec "$new" sh -ec "apt-get ${APT_OPTS[$v]} update -qq
        DEBIAN_FRONTEND=noninteractive apt-get ${APT_OPTS[$v]} install -y -qq --no-install-recommends \
            $(pg_root_packages "$v" | tr '\n' ' ') >/dev/null
        apt-get clean" \
        || ds_die "installing the packages into the root of PostgreSQL $v failed"
    # shellcheck disable=SC2016 # dpkg-query's ${...}
    pg_root_exec "$new" dpkg-query -W -f='${Package} ${Version}\n' "postgresql-$v" \
        "postgresql-server-dev-$v" postgresql-common libcurl4-openssl-dev gcc debhelper python3 \
        > "$dir/versions.new"
    { echo "PostgreSQL $v root: Debian ${SUITE[$v]}, debootstrap --variant=$DS_PG_VARIANT, $DS_PG_MIRROR"
      sed 's/^/  /' "$dir/versions.new"; } > "$dir/versions"
    rm -f "$dir/versions.new"
    echo "$stamp" > "$new/.directus_sync_stamp"
    mv "$new" "$dir/root"
    ds_say "root of PostgreSQL $v made in $((SECONDS - start)) s"
    cat "$dir/versions"
}

[ $# -ge 2 ] || pg_root_usage
cmd=$1 version=$2
shift 2
pg_root_check_version "$version"
case $cmd in
    ensure)
        ds_require_root
        mkdir -p "$DS_PG_ROOTS/$version"
        exec 9>"$DS_PG_ROOTS/$version.lock"
        # A caller that holds the lock already (test.sh) passes DS_PG_ROOT_LOCKED=1.
        [ "${DS_PG_ROOT_LOCKED:-}" ] || flock 9
        pg_root_ensure "$version"
        ;;
    path) echo "$DS_PG_ROOTS/$version/root" ;;
    run)
        ds_require_root
        [ $# -ge 1 ] || pg_root_usage
        [ -f "$DS_PG_ROOTS/$version/root/.directus_sync_stamp" ] \
            || ds_die "no root for PostgreSQL $version: run scripts/pg_root.sh ensure $version"
        pg_root_exec "$DS_PG_ROOTS/$version/root" "$@"
        ;;
    *) pg_root_usage ;;
esac
