# scripts/lib.sh: set-up steps shared by demo.sh, test.sh and bench/*.sh.
# Sourced, not run. Every step is idempotent and assumes a Debian 12 machine
# where we are root; servers run as the postgres user, on 127.0.0.1 only.

DS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DS_PACKAGES=(postgresql-15 postgresql-server-dev-15 libcurl4-openssl-dev build-essential
             libipc-run-perl python3 python3-psycopg2 curl gdb)
PGBIN=/usr/lib/postgresql/15/bin

ds_say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
ds_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

ds_require_root() {
    [ "$(id -u)" = 0 ] || ds_die "run this as root: it installs packages and runs servers as the postgres user"
}

# Installs the Debian packages that are missing (apt-get only when needed).
ds_install_packages() {
    local missing=() p
    for p in "${DS_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    ds_say "installing packages: ${missing[*]}"
    apt-get update -qq
    # Our scripts make their own clusters: keep Debian from creating and
    # starting a default one on port 5432.
    # A drop-in (read through createcluster.conf's include_dir) leaves the
    # packaged conffile untouched.
    mkdir -p /etc/postgresql-common/createcluster.d
    echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/directus_sync.conf
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Runs a command as postgres from a directory it can read (runuser keeps the cwd).
ds_as_postgres() { (cd / && runuser -u postgres -- "$@"); }

# Copies the source tree into a fresh directory owned by postgres, so that
# the build and the tests (which write results/ and tmp_check/) run as the
# postgres user, as initdb and the TAP tests require. Prints the directory.
ds_workdir() {
    local name=$1 dir
    dir=$(mktemp -d "/tmp/directus_sync_${name}.XXXXXX")
    mkdir "$dir/src"
    ds_copy_tree "$dir/src"
    chown -R postgres:postgres "$dir"
    chmod 755 "$dir"
    echo "$dir"
}

# Copies the source tree into DEST (which exists), without what builds and
# test runs leave in a clone (also a Debian package build's).
ds_copy_tree() {
    tar -C "$DS_ROOT" --exclude=.git --exclude=tmp_check --exclude=results --exclude='*.o' \
        --exclude='*.so' --exclude='*.bc' --exclude=debian/.debhelper --exclude=debian/files \
        --exclude='debian/postgresql-*-directus-sync' --exclude='debian/*.substvars' \
        --exclude=debian/debhelper-build-stamp -cf - . | tar -C "$1" -xf -
}

# Builds as postgres (warnings are errors), installs as root.
ds_build_install() {
    local src=$1
    ds_say "building and installing directus_sync"
    # pg_config on PATH is Debian's wrapper for the newest server-dev
    # installed; the clusters run PostgreSQL 15, so build for 15.
    ds_as_postgres make -s -C "$src" PG_CONFIG="$PGBIN/pg_config" COPT=-Werror
    make -s -C "$src" PG_CONFIG="$PGBIN/pg_config" install >/dev/null
}

# ds_cluster_start DIR PORT [postgresql.conf lines...]
# A throwaway cluster in DIR, trust authentication, listening on 127.0.0.1:PORT.
ds_cluster_start() {
    local dir=$1 port=$2; shift 2
    if ds_as_postgres "$PGBIN/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        ds_as_postgres "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    fi
    rm -rf "$dir"
    mkdir -p "$dir"
    chown postgres:postgres "$dir"
    ds_as_postgres "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 \
        --locale=C.UTF-8 >/dev/null
    {
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $port"
        echo "unix_socket_directories = '$dir'"
        echo "shared_preload_libraries = 'directus_sync'"
        printf '%s\n' "$@"
    } >> "$dir/data/postgresql.conf"
    ds_as_postgres "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w start >/dev/null \
        || { cat "$dir/server.log" >&2; ds_die "the cluster in $dir did not start"; }
}

ds_cluster_stop() {
    local dir=$1
    [ -f "$dir/data/postmaster.pid" ] || return 0
    ds_as_postgres "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
}

# Starts the project's fake Directus (t/fake_directus.py) as postgres on
# 127.0.0.1:PORT in the background, with the collections given as JSON; waits
# until it listens. Its pid goes to $dir/fake.pid for ds_fake_stop.
ds_fake_start() {
    local dir=$1 port=$2 collections=$3 i
    ds_as_postgres /usr/bin/python3 "$DS_ROOT/t/fake_directus.py" --port "$port" \
        --collections "$collections" --pid-file "$dir/fake.pid" >"$dir/fake.log" 2>&1 &
    for i in $(seq 100); do
        grep -q listening "$dir/fake.log" 2>/dev/null && return 0
        sleep 0.1
    done
    cat "$dir/fake.log" >&2
    ds_die "the fake Directus on port $port did not start"
}

ds_fake_stop() {
    local dir=$1
    [ -f "$dir/fake.pid" ] && kill "$(cat "$dir/fake.pid")" 2>/dev/null || true
    rm -f "$dir/fake.pid"
}
