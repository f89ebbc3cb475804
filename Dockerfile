# The gateway alone (not devkit, not the mock issuer). From the workspace root:
#   docker build -t connector-gateway .
# How to run it, and what it needs: docs/deploy.md.

# ---- build ----
FROM rust:1-bookworm AS build
WORKDIR /src
# The whole workspace (less what .dockerignore drops): Cargo.lock is resolved
# against every member's manifest, even when only the gateway is built.
COPY . .
# Release profile: fat LTO, one codegen unit. Slow (about 10 min on 2 cores).
# The migrations are embedded here (sqlx::migrate!), so only the binary leaves.
RUN cargo build --release -p gateway --locked

# ---- run ----
FROM debian:bookworm-slim
# CA roots: https to the issuer, and Postgres with sslmode=verify-full.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 gateway \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin gateway
WORKDIR /app
COPY --from=build /src/target/release/gateway /usr/local/bin/gateway
# The Reading Room pack at APP_DIR's default (`seed`, relative to /app).
COPY seed/ /app/seed/
# The default DATABASE_URL (sqlite://.devkit/gateway.db) lands here; mount a
# volume on it for a single-replica SQLite trial. Replicas use Postgres.
RUN mkdir /app/.devkit && chown 10001:10001 /app/.devkit
# Numeric, so runtimes can check runAsNonRoot.
USER 10001:10001
ENV GATEWAY_ADDR=0.0.0.0:8000
EXPOSE 8000
# No HEALTHCHECK: the slim image has no curl or wget. Probe GET /readyz
# (readiness) and GET /healthz (liveness) from the orchestrator or the load balancer.
ENTRYPOINT ["/usr/local/bin/gateway"]
