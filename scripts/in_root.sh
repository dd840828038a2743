#!/usr/bin/env bash
# scripts/in_root.sh: the steps scripts/test.sh runs inside the root of one
# PostgreSQL version (scripts/pg_root.sh), from the copy of the tree there.
# Run as root inside the root; VERSION is the PostgreSQL major version.
#
#   in_root.sh package VERSION SRC
#       Builds the Debian package from a copy of SRC with pg_buildext
#       (dpkg-buildpackage -b, for every postgresql-server-dev-N installed:
#       the root has one), lists it (dpkg -c), checks that it holds the
#       library, the control file and every SQL script of the Makefile's DATA,
#       runs lintian when it is installed (errors fail), and installs it.
#       The package lands next to SRC.
#   in_root.sh cluster-start VERSION DIR PORT
#       A cluster in DIR on 127.0.0.1:PORT with the library preloaded (lib.sh).
#   in_root.sh cluster-stop VERSION DIR
#   in_root.sh installcheck VERSION SRC PORT MAKE_ARGS...
#       make installcheck of SRC as postgres against the installed package,
#       with the cluster on PORT for pg_regress and isolation.
#   in_root.sh tap-files SRC
#       The TAP files that need no real Directus (those that do use
#       DirectusE2E): what runs in the roots.
# shellcheck disable=SC2016,SC2034 # make's $(DATA); PGBIN is lib.sh's
set -euo pipefail
. "$(dirname "$0")/lib.sh"

cmd=${1:-}
[ $# -ge 2 ] || ds_die "usage: in_root.sh package|cluster-start|cluster-stop|installcheck|tap-files ..."
shift

case $cmd in
    package)
        version=$1 src=$2
        pkg=$(dirname "$src")/pkg
        rm -rf "$pkg"
        cp -a "$src" "$pkg"
        cd "$pkg"
        ds_say "dpkg-buildpackage for PostgreSQL $version"
        # PG_SUPPORTED_VERSIONS=installed: the versions of the installed
        # server-dev packages; PG_UPDATECONTROL: debian/control made for them.
        PG_SUPPORTED_VERSIONS=installed PG_UPDATECONTROL=yes \
            dpkg-buildpackage -b -us -uc >"$pkg.build.log" 2>&1 \
            || { tail -n 40 "$pkg.build.log"; ds_die "dpkg-buildpackage failed"; }
        deb=$(ls "$(dirname "$src")"/postgresql-"$version"-directus-sync_*.deb)
        echo "built $(basename "$deb")"
        dpkg -c "$deb"
        contents=$(dpkg -c "$deb" | awk '{print $6}')
        want=("./usr/lib/postgresql/$version/lib/directus_sync.so"
              "./usr/share/postgresql/$version/extension/directus_sync.control")
        for sql in $(make -s --no-print-directory -C "$src" PG_CONFIG="/usr/lib/postgresql/$version/bin/pg_config" \
                     --eval 'ds-print-data: ; @echo $(DATA)' ds-print-data); do
            want+=("./usr/share/postgresql/$version/extension/$sql")
        done
        for f in "${want[@]}"; do
            grep -qxF "$f" <<<"$contents" || ds_die "the package lacks $f"
        done
        echo "the package holds the library, the control file and the $((${#want[@]} - 2)) SQL scripts of DATA"
        if command -v lintian >/dev/null; then
            ds_say "lintian"
            # Errors fail; warnings and the rest are shown.
            lintian --fail-on error --tag-display-limit 0 "$deb" || ds_die "lintian reports errors"
        fi
        ds_say "installing $(basename "$deb")"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$deb" >/dev/null
        dpkg-query -W -f='installed ${Package} ${Version}\n' "postgresql-$version-directus-sync"
        # The library is stripped: its debug symbols, for gdb in t/058.
        for dbg in "$(dirname "$src")"/postgresql-"$version"-directus-sync-dbgsym_*.*deb; do
            [ -f "$dbg" ] && dpkg -i "$dbg" >/dev/null && echo "installed $(basename "$dbg")"
        done
        ;;
    cluster-start)
        version=$1 dir=$2 port=$3
        PGBIN=/usr/lib/postgresql/$version/bin
        ds_cluster_start "$dir" "$port"
        ;;
    cluster-stop)
        version=$1 dir=$2
        PGBIN=/usr/lib/postgresql/$version/bin
        ds_cluster_stop "$dir"
        ;;
    installcheck)
        version=$1 src=$2 port=$3
        shift 3
        ds_as_postgres env PGHOST=127.0.0.1 PGPORT="$port" PGUSER=postgres LANG=C.UTF-8 LC_ALL=C.UTF-8 \
            make -C "$src" PG_CONFIG="/usr/lib/postgresql/$version/bin/pg_config" installcheck "$@"
        ;;
    tap-files)
        src=$1
        cd "$src" && grep -L DirectusE2E t/*.pl
        ;;
    *) ds_die "unknown step $cmd" ;;
esac
