#!/usr/bin/env bash
# Entrypoint of the local test image (scripts/local-k8s builds it). One Debian root serves
# as tempstack.local/postgres:15, redis:7, python:3.11 and debian:12, so this script follows
# the contract of the OFFICIAL postgres and redis images: the Kubernetes backend renders
# manifests for those images and sets only `args` and `env`.
#
#   args starting with "-"      -> `postgres <args>` (the redis tag: `redis-server <args>`,
#                                  python: `python3 <args>`, debian: `bash <args>`)
#   postgres ...                -> initialise $PGDATA on first start, then run postgres as
#                                  the postgres user
#   redis-server ...            -> run it (as root), protected mode off like the official image
#   anything else               -> exec it as is
#
# TEMPSTACK_IMAGE (set in each tag's image config) says which official image the tag
# stands in for; it only matters for args that start with "-" and for the default command.
set -Eeuo pipefail

flavour=${TEMPSTACK_IMAGE:-postgres}

if [ "$#" -gt 0 ] && [ "${1#-}" != "$1" ]; then
  case $flavour in
    redis) set -- redis-server "$@" ;;
    python) set -- python3 "$@" ;;
    debian) set -- bash "$@" ;;
    *) set -- postgres "$@" ;;
  esac
elif [ "$#" -gt 0 ] && [ "$flavour" = redis ] && [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"  # the official redis image accepts a config file as first arg
fi

# ---------------------------------------------------------------------------- postgres
pg_setup_dirs() {
  # Create PGDATA and the socket directory; as root, hand them to the postgres user (like
  # the official image does before dropping privileges).
  mkdir -p "$PGDATA" /var/run/postgresql || :
  chmod 00700 "$PGDATA" || :
  chmod 03775 /var/run/postgresql 2>/dev/null || :
  if [ "$(id -u)" = 0 ]; then
    find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
    chown postgres:postgres /var/run/postgresql
  fi
}

pg_init() {
  # As the postgres user, PGDATA without PG_VERSION: initdb, open TCP with a password,
  # create POSTGRES_DB, run /docker-entrypoint-initdb.d.
  local user=${POSTGRES_USER:-postgres}
  local auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
  if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
    cat >&2 <<'EOF'
docker-entrypoint.sh: error: the database is uninitialized and POSTGRES_PASSWORD is not set.
  Set POSTGRES_PASSWORD to a non-empty value for the superuser
  (or POSTGRES_HOST_AUTH_METHOD=trust to allow all connections without a password).
EOF
    exit 1
  fi
  echo "docker-entrypoint.sh: initialising $PGDATA (user $user)" >&2
  # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of options on purpose
  initdb -D "$PGDATA" -U "$user" --pwfile=<(printf %s "${POSTGRES_PASSWORD:-}") \
    --auth-local=trust --auth-host="$auth" ${POSTGRES_INITDB_ARGS:-}
  printf '\nhost all all all %s\n' "$auth" >> "$PGDATA/pg_hba.conf"
  printf "\nlisten_addresses = '*'\n" >> "$PGDATA/postgresql.conf"

  local db=${POSTGRES_DB:-$user}
  local initfiles=()
  if [ -d /docker-entrypoint-initdb.d ]; then
    shopt -s nullglob
    initfiles=(/docker-entrypoint-initdb.d/*)
    shopt -u nullglob
  fi
  if [ "$db" != "$user" ] || [ ${#initfiles[@]} -gt 0 ]; then
    # A temporary server on the unix socket only, with the same options as the real one.
    pg_ctl -D "$PGDATA" -w -o "$(printf '%q ' "$@") -c listen_addresses='' -p ${PGPORT:-5432}" start
    export PGUSER=$user PGDATABASE=postgres PGHOST=/var/run/postgresql PGPORT=${PGPORT:-5432}
    if [ "$db" != "$user" ]; then
      createdb -- "$db"
    fi
    export PGDATABASE=$db
    local f
    for f in "${initfiles[@]}"; do
      case "$f" in
        *.sh)
          if [ -x "$f" ]; then "$f"; else
            # shellcheck disable=SC1090
            . "$f"
          fi ;;
        *.sql) psql -v ON_ERROR_STOP=1 -f "$f" ;;
        *.sql.gz) gunzip -c "$f" | psql -v ON_ERROR_STOP=1 ;;
        *) echo "docker-entrypoint.sh: ignoring $f" >&2 ;;
      esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    unset PGUSER PGDATABASE PGHOST
  fi
  echo "docker-entrypoint.sh: PostgreSQL init process complete; ready for start up." >&2
}

if [ "${1:-}" = postgres ]; then
  export PGDATA=${PGDATA:-/var/lib/postgresql/data}
  pg_setup_dirs
  if [ "$(id -u)" = 0 ]; then
    # Re-run this script as the postgres user (gosu is not in Debian; setpriv is).
    exec setpriv --reuid=postgres --regid=postgres --init-groups \
      env HOME=/var/lib/postgresql "${BASH_SOURCE[0]}" "$@"
  fi
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    shift
    pg_init "$@"
    set -- postgres "$@"
  fi
  exec "$@"
fi

# ------------------------------------------------------------------------------- redis
if [ "${1:-}" = redis-server ]; then
  # The official image builds redis with protected mode off (the pod network is the
  # boundary); without it redis refuses clients from other pods when no password is set.
  protected=
  for a in "$@"; do [ "$a" = --protected-mode ] && protected=1; done
  [ -n "$protected" ] || set -- "$@" --protected-mode no
  exec "$@"
fi

if [ "$#" -eq 0 ]; then
  echo "docker-entrypoint.sh: no command given" >&2
  exit 64
fi
exec "$@"
