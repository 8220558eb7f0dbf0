#!/usr/bin/env bash
# with-postgres.sh: run a command against a throwaway PostgreSQL server.
#
#   scripts/with-postgres.sh pytest -q tests
#
# The script starts a private server on 127.0.0.1 and a free port, runs the
# command, then always stops the server and deletes its files. It exits with
# the command's exit code. If OPS_PIPELINE_TEST_PG_URL is already set, it
# starts nothing and just runs the command, so a developer can use their own
# server.
#
# The command sees these environment variables:
#   OPS_PIPELINE_TEST_PG_URL        postgresql+psycopg://ops:PW@127.0.0.1:PORT/ops_test
#                                   (role "ops", which owns database "ops_test")
#   OPS_PIPELINE_TEST_PG_ADMIN_URL  postgresql+psycopg://postgres:PW@127.0.0.1:PORT/postgres
#                                   (a superuser)
#   OPS_PIPELINE_TEST_PG_BINDIR     directory with pg_ctl, psql, pg_isready, ...
#   OPS_PIPELINE_TEST_PG_DATADIR    the server's data directory
#   OPS_PIPELINE_TEST_PG_USER       OS user that owns the data directory and
#                                   must run pg_ctl
#   OPS_PIPELINE_TEST_PG_LOG        server log file; pass it to pg_ctl -l
#   OPS_PIPELINE_TEST_PG_PORT       TCP port, also in the URLs
#
# How a test stops and restarts the server (e.g. to simulate a crash):
# every server option (listen address, port, socket directory, fsync=off, ...)
# is in the data directory's postgresql.conf, through the included file
# ops_test.conf. So a plain pg_ctl start brings the server back on the same
# address and port. As root, run pg_ctl as the data directory's owner:
#
#   as_pg() {  # run as OPS_PIPELINE_TEST_PG_USER (runuser needs root)
#     if [ "$(id -un)" = "$OPS_PIPELINE_TEST_PG_USER" ]; then "$@";
#     else (cd / && runuser -u "$OPS_PIPELINE_TEST_PG_USER" -- "$@"); fi
#   }
#   as_pg "$OPS_PIPELINE_TEST_PG_BINDIR/pg_ctl" -D "$OPS_PIPELINE_TEST_PG_DATADIR" stop -m immediate   # "crash"
#   as_pg "$OPS_PIPELINE_TEST_PG_BINDIR/pg_ctl" -D "$OPS_PIPELINE_TEST_PG_DATADIR" stop -m fast        # clean stop
#   as_pg "$OPS_PIPELINE_TEST_PG_BINDIR/pg_ctl" -D "$OPS_PIPELINE_TEST_PG_DATADIR" \
#         -l "$OPS_PIPELINE_TEST_PG_LOG" -w -t 30 start
#
# In Python: subprocess.run(["runuser", "-u", user, "--", f"{bindir}/pg_ctl",
# "-D", datadir, "-l", log, "-w", "-t", "30", "start"], cwd="/", check=True).
# The `cd /` / cwd="/" only avoids a harmless "could not change directory to
# /root" warning when the caller's cwd is not readable by that user.
# A plain (non-root) user runs the pg_ctl command directly. If a test leaves
# the server stopped, the cleanup here still works.
#
# Requirements: Debian/Ubuntu layout (/usr/lib/postgresql/*/bin) or
# initdb/pg_ctl on PATH. If the server is missing and the script runs as root,
# it installs it with apt-get. python3 is used to pick a free port.

set -euo pipefail

readonly PG_OS_USER_DEFAULT=opspg   # system user that runs the server when we are root
readonly APP_ROLE=ops
readonly APP_DB=ops_test
readonly ADMIN_ROLE=postgres
readonly START_TIMEOUT=30           # seconds pg_ctl -w waits for the server to come up
readonly STOP_TIMEOUT=15            # seconds per stop attempt before escalating

log() { printf 'postgres: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------------------
# Developer override: use the server they gave us, start nothing.
# ---------------------------------------------------------------------------
if [[ $# -eq 0 ]]; then
    die "usage: $0 COMMAND [ARGS...]"
fi
if [[ -n "${OPS_PIPELINE_TEST_PG_URL:-}" ]]; then
    exec "$@"
fi

# State the cleanup trap reads. Set before the trap is installed.
TMP_ROOT=""
PG_DATA=""
PG_LOG=""
PG_BINDIR=""
PG_OS_USER=""
CHILD_PID=""
GOT_SIGNAL=""

# Run a command as the OS user that owns the cluster. When we are root that is
# a separate unprivileged user, because postgres refuses to run as root.
as_pg() {
    if [[ $EUID -eq 0 ]]; then
        # cd to the temp dir first: the caller's cwd (e.g. /root) may not be
        # readable by the pg user, and initdb/pg_ctl warn or fail on that.
        (cd "$TMP_ROOT" && runuser -u "$PG_OS_USER" -- "$@")
    else
        "$@"
    fi
}

random_hex() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }

# ---------------------------------------------------------------------------
# 1. Find (or install) the server binaries.
# ---------------------------------------------------------------------------

# A bin dir is usable if it has everything we call.
usable_bindir() {
    local d=$1 b
    for b in initdb pg_ctl postgres psql; do
        [[ -x "$d/$b" ]] || return 1
    done
}

find_bindir() {
    local d pgctl
    # Debian's real binaries are in /usr/lib/postgresql/<major>/bin. Prefer
    # the highest major version (sort -V so 9.6 < 10 < 15).
    while IFS= read -r d; do
        if usable_bindir "$d"; then
            printf '%s\n' "$d"
            return 0
        fi
    done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -rV || true)

    # Otherwise look on PATH. Some machines have symlinks or wrappers in
    # /usr/local/bin; resolve symlinks so BINDIR is the real directory. Skip
    # Debian's pg_wrapper scripts (/usr/bin/psql ...), which are not a server.
    if pgctl=$(command -v pg_ctl 2>/dev/null); then
        d=$(dirname "$(readlink -f "$pgctl")")
        if usable_bindir "$d"; then
            printf '%s\n' "$d"
            return 0
        fi
    fi
    return 1
}

install_postgres() {
    [[ $EUID -eq 0 ]] || die "PostgreSQL server binaries (initdb, pg_ctl) not found and not running as root to install them; install the 'postgresql' package or set OPS_PIPELINE_TEST_PG_URL"
    command -v apt-get >/dev/null || die "PostgreSQL not found and apt-get is not available to install it"
    log "server not found, installing it with apt-get (one-off)"
    # Stop the package from creating and starting a default cluster on port
    # 5432: we only need the binaries. createcluster.conf includes this dir.
    mkdir -p /etc/postgresql-common/createcluster.d
    printf 'create_main_cluster = false\n' \
        > /etc/postgresql-common/createcluster.d/00-ops-pipeline-no-main-cluster.conf
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
}

# ---------------------------------------------------------------------------
# 2. Cleanup: runs on every exit path (normal, error, signal).
# ---------------------------------------------------------------------------

# True while the postmaster named in postmaster.pid exists.
server_running() {
    [[ -n "$PG_DATA" && -f "$PG_DATA/postmaster.pid" ]] || return 1
    local pid
    pid=$(head -n1 "$PG_DATA/postmaster.pid" 2>/dev/null || true)
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

stop_server() {
    server_running || return 0
    # A fast stop rolls back open transactions and disconnects clients. If it
    # hangs (e.g. a stuck backend), an immediate stop skips the shutdown
    # checkpoint; the data is thrown away anyway.
    as_pg "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -w -t "$STOP_TIMEOUT" stop -m fast >>"$PG_LOG" 2>&1 && return 0
    log "fast stop failed, trying immediate stop"
    as_pg "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -w -t "$STOP_TIMEOUT" stop -m immediate >>"$PG_LOG" 2>&1 && return 0
    # Last resort: kill the postmaster so we don't leave a server behind.
    # Its child processes exit when they see the postmaster has died.
    if server_running; then
        log "immediate stop failed, killing postmaster"
        kill -KILL "$(head -n1 "$PG_DATA/postmaster.pid")" 2>/dev/null || true
    fi
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    stop_server || true
    if [[ -n "$TMP_ROOT" && -d "$TMP_ROOT" ]]; then
        rm -rf -- "$TMP_ROOT"
    fi
    exit "$rc"
}

# Before the command starts, a signal just exits (the EXIT trap cleans up).
# While it runs, pass TERM/HUP on to it and wait for it, so it can finish
# its own teardown before we stop the server. SIGINT is not passed on: Ctrl-C
# in a terminal already sends it to the whole process group, command included,
# and a second SIGINT would cut short the command's teardown.
on_signal() {
    local sig=$1 code=$2
    if [[ -n "$CHILD_PID" ]] && kill -0 "$CHILD_PID" 2>/dev/null; then
        GOT_SIGNAL=1
        if [[ $sig != INT ]]; then
            kill -s "$sig" "$CHILD_PID" 2>/dev/null || true
        fi
    else
        exit "$code"
    fi
}

trap cleanup EXIT
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM
trap 'on_signal HUP 129' HUP

# ---------------------------------------------------------------------------
# 3. Create and start the cluster.
# ---------------------------------------------------------------------------

if ! PG_BINDIR=$(find_bindir); then
    install_postgres
    PG_BINDIR=$(find_bindir) || die "PostgreSQL installed but initdb/pg_ctl/postgres/psql still not found"
fi

if [[ $EUID -eq 0 ]]; then
    PG_OS_USER=$PG_OS_USER_DEFAULT
    if ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
        # "|| id" covers two runs creating the user at the same time.
        useradd --system --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin --user-group "$PG_OS_USER" 2>/dev/null \
            || id -u "$PG_OS_USER" >/dev/null 2>&1 \
            || die "could not create system user $PG_OS_USER"
    fi
    # Use /tmp even if TMPDIR is set: TMPDIR may be under /root, which the pg
    # user cannot get into. /tmp (1777) is traversable by everyone.
    TMP_ROOT=$(mktemp -d /tmp/ops-pipeline-pg.XXXXXX)
    chown "$PG_OS_USER:" "$TMP_ROOT"
else
    PG_OS_USER=$(id -un)
    TMP_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/ops-pipeline-pg.XXXXXX")
fi
# mktemp gives 0700: only the pg user (and root) can reach the socket and the
# data. The log and data are readable by root, which runs the tests in CI.
chmod 0700 "$TMP_ROOT"

PG_DATA=$TMP_ROOT/data
PG_LOG=$TMP_ROOT/postgres.log
SOCKET_DIR=$TMP_ROOT/socket
as_pg mkdir -m 0700 "$SOCKET_DIR"
as_pg touch "$PG_LOG"

ADMIN_PW=$(random_hex)
APP_PW=$(random_hex)

# The superuser password reaches initdb through a file (not argv, where
# `ps` would show it) in the private temp dir. It is deleted after initdb.
PWFILE=$TMP_ROOT/pwfile
(umask 077; printf '%s\n' "$ADMIN_PW" >"$PWFILE")
if [[ $EUID -eq 0 ]]; then chown "$PG_OS_USER:" "$PWFILE"; fi

# Password auth (scram) everywhere, also on the socket. The socket sits in a
# 0700 directory anyway, but the tests connect over TCP as user/password,
# like the application does.
if ! as_pg "$PG_BINDIR/initdb" -D "$PG_DATA" -U "$ADMIN_ROLE" --pwfile="$PWFILE" \
        --auth=scram-sha-256 -E UTF8 --locale=C --no-sync >>"$PG_LOG" 2>&1; then
    tail -n 50 "$PG_LOG" >&2
    die "initdb failed"
fi
rm -f "$PWFILE"

pick_port() {
    local py
    py=$(command -v python3 || command -v python || true)
    if [[ -n "$py" ]]; then
        # Bind to port 0 so the kernel gives a free port. Another process
        # could take it before postgres binds; the retry loop below covers that.
        "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    else
        echo $(( 20000 + RANDOM % 40000 ))
    fi
}

# All server options live in the data dir, so a plain `pg_ctl start -D DATADIR`
# (as a test does after a simulated crash) comes back identical.
write_conf() {
    local port=$1
    as_pg tee "$PG_DATA/ops_test.conf" >/dev/null <<EOF
# Written by scripts/with-postgres.sh: throwaway test server.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$SOCKET_DIR'
# Durability is not needed for test data; these make it much faster.
fsync = off
synchronous_commit = off
full_page_writes = off
# Messages go to the file that pg_ctl -l names.
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
EOF
}
printf "\ninclude 'ops_test.conf'\n" | as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null

PG_PORT=""
for attempt in 1 2 3; do
    port=$(pick_port)
    write_conf "$port"
    if as_pg "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$START_TIMEOUT" start >/dev/null 2>&1; then
        PG_PORT=$port
        break
    fi
    # Try a new port only when another process got this one first.
    if ! tail -n 20 "$PG_LOG" | grep -q 'could not bind\|Address already in use'; then
        break
    fi
    if [[ $attempt -lt 3 ]]; then
        log "port $port was taken, retrying with another port"
    fi
done
if [[ -z "$PG_PORT" ]]; then
    tail -n 50 "$PG_LOG" >&2
    die "server did not start (last lines of its log above)"
fi

# pg_ctl -w returns when the server reports ready; check TCP login too,
# because that is what the tests use.
export PGPASSWORD=$ADMIN_PW
ready=""
for _ in $(seq 1 $((START_TIMEOUT * 10))); do
    if "$PG_BINDIR/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U "$ADMIN_ROLE" -d postgres; then
        ready=1
        break
    fi
    sleep 0.1
done
if [[ -z "$ready" ]]; then
    tail -n 50 "$PG_LOG" >&2
    die "server did not accept connections on 127.0.0.1:$PG_PORT"
fi

# The passwords are hex, so they need no SQL quoting or URL encoding.
if ! "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" \
        -U "$ADMIN_ROLE" -d postgres >>"$PG_LOG" 2>&1 <<EOF
CREATE ROLE $APP_ROLE LOGIN PASSWORD '$APP_PW';
CREATE DATABASE $APP_DB OWNER $APP_ROLE;
EOF
then
    tail -n 50 "$PG_LOG" >&2
    die "could not create role $APP_ROLE and database $APP_DB"
fi
unset PGPASSWORD

log "started on 127.0.0.1:$PG_PORT (PostgreSQL $(basename "$(dirname "$PG_BINDIR")"), data in $PG_DATA)"

export OPS_PIPELINE_TEST_PG_URL="postgresql+psycopg://$APP_ROLE:$APP_PW@127.0.0.1:$PG_PORT/$APP_DB"
export OPS_PIPELINE_TEST_PG_ADMIN_URL="postgresql+psycopg://$ADMIN_ROLE:$ADMIN_PW@127.0.0.1:$PG_PORT/postgres"
export OPS_PIPELINE_TEST_PG_BINDIR=$PG_BINDIR
export OPS_PIPELINE_TEST_PG_DATADIR=$PG_DATA
export OPS_PIPELINE_TEST_PG_USER=$PG_OS_USER
export OPS_PIPELINE_TEST_PG_LOG=$PG_LOG
export OPS_PIPELINE_TEST_PG_PORT=$PG_PORT

# ---------------------------------------------------------------------------
# 4. Run the command and pass on its exit code.
# ---------------------------------------------------------------------------
# Run it in the background and `wait`, so TERM/HUP reach on_signal at once
# (bash holds traps until a foreground command ends). Without job control,
# bash starts background commands with SIGINT ignored and stdin from
# /dev/null; the subshell resets SIGINT and `<&0` keeps the real stdin (for
# pytest --pdb and the like).
( trap - INT QUIT; exec "$@" ) <&0 &
CHILD_PID=$!

rc=0
wait "$CHILD_PID" || rc=$?
# A trapped signal interrupts `wait` early; wait again for the real status.
while [[ -n "$GOT_SIGNAL" ]]; do
    GOT_SIGNAL=""
    rc=0
    wait "$CHILD_PID" || rc=$?
done
exit "$rc"
