# Dockerfile: an example that adds directus_sync to the official "postgres"
# image (its Debian-based tags, which install PostgreSQL from
# apt.postgresql.org). Not built by the tests: no Docker registry is
# reachable where they run. The first stage builds the Debian package of
# debian/ for the image's version, the second installs it (apt brings
# libcurl) and preloads the library.
#
#   docker build --build-arg PG_MAJOR=17 -t postgres-directus-sync:17 .
#   docker run -d -e POSTGRES_PASSWORD=secret -e POSTGRES_DB=directus postgres-directus-sync:17
#
# PG_MAJOR: 15, 16, 17 or 18 (16 is expected to work but not tested, see README.md).
ARG PG_MAJOR=17

FROM postgres:${PG_MAJOR} AS build
ARG PG_MAJOR
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential debhelper dpkg-dev \
        postgresql-server-dev-${PG_MAJOR} postgresql-server-dev-all libcurl4-openssl-dev \
 && rm -rf /var/lib/apt/lists/*
COPY . /build/directus_sync
WORKDIR /build/directus_sync
# One package, for the image's version; debian/control is rewritten for it.
RUN PG_SUPPORTED_VERSIONS=${PG_MAJOR} PG_UPDATECONTROL=yes dpkg-buildpackage -b -us -uc

FROM postgres:${PG_MAJOR}
ARG PG_MAJOR
COPY --from=build /build/postgresql-${PG_MAJOR}-directus-sync_*.deb /tmp/
RUN apt-get update \
 && apt-get install -y --no-install-recommends /tmp/postgresql-${PG_MAJOR}-directus-sync_*.deb \
 && rm -rf /var/lib/apt/lists/* /tmp/*.deb
# The replication worker needs the library preloaded, and the name of the
# database(s) Directus uses (the SyncID map works without either).
CMD ["postgres", "-c", "shared_preload_libraries=directus_sync", "-c", "directus_sync.databases=directus"]
