#!/bin/sh
# What docker-compose.yml uses of the official postgres image's entrypoint:
# POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB make a new data directory and are
# ignored on one that holds a cluster; then the server runs as postgres, as PID 1.
set -eu

# `docker run IMAGE -c name=value` passes server options, as with the official image.
if [ "${1#-}" != "$1" ]; then set -- postgres "$@"; fi
[ "$1" = postgres ] || exec "$@"

if [ "$(id -u)" = 0 ]; then
    # A volume made by another image or an older uid: the server refuses to start
    # unless it owns the directory and it is private.
    mkdir -p "$PGDATA"
    find "$PGDATA" ! -user postgres -exec chown postgres:postgres {} +
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?must be set to initialise a new data directory}"
    user=${POSTGRES_USER:-postgres}
    db=${POSTGRES_DB:-$user}
    # Trust on the Unix socket (docker exec ... psql), a password over TCP, loopback
    # included: pg_isready needs no login.
    printf '%s\n' "$POSTGRES_PASSWORD" | initdb --username="$user" --pwfile=/dev/stdin \
        --auth-local=trust --auth-host=scram-sha-256
    echo 'host all all all scram-sha-256' >>"$PGDATA/pg_hba.conf"
    # Single-user mode: no listener at all until the database exists, so compose's
    # healthcheck (pg_isready over TCP) cannot see a half-made cluster as ready.
    if [ "$db" != postgres ]; then
        printf 'CREATE DATABASE "%s"\n' "$(printf '%s' "$db" | sed 's/"/""/g')" \
            | postgres --single -c exit_on_error=on -D "$PGDATA" postgres >/dev/null
    fi
    echo "entrypoint: initialised $PGDATA: superuser $user, database $db"
fi
exec "$@"
