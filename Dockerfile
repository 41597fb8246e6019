# syntax=docker/dockerfile:1
# gwsync: one image for the three roles (publisher, gateway sidecar, relay); the role is the command.
#   docker build -t gwsync .
#   docker run -v $PWD/gateway.toml:/etc/gwsync/gwsync.toml:ro -v gwsync-data:/var/lib/gwsync gwsync
#   docker run ... gwsync publisher --config /etc/gwsync/gwsync.toml

# Node 22 LTS (package.json engines: >=22.12).
ARG NODE_IMAGE=node:22-bookworm-slim

# ---- build: compile TypeScript, then keep only the production dependencies ----
FROM ${NODE_IMAGE} AS build
# better-sqlite3 compiles its native addon when no prebuilt binary matches (node-gyp needs these).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
# Scripts off: "prepare" builds dist/ from sources not copied yet; better-sqlite3's addon is built next.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# ---- runtime: no compiler, no dev dependencies, non-root ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    GWSYNC_LOG_FORMAT=json
# git: the publisher's [gwsync.git_source] runs the git command (docs/architecture.md#git).
RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates openssh-client \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 gwsync \
 && useradd --system --uid 10001 --gid gwsync --home-dir /var/lib/gwsync --no-create-home \
      --shell /usr/sbin/nologin gwsync \
 && mkdir -p /var/lib/gwsync /etc/gwsync \
 && chown gwsync:gwsync /var/lib/gwsync
WORKDIR /app
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root package.json ./
COPY --chown=root:root bin ./bin
COPY --chown=root:root jndi ./jndi
COPY --chown=root:root ui ./ui
USER 10001:10001
# SQLite store, gateway state and last-known-good cache (point [gwsync] data_dir here).
VOLUME /var/lib/gwsync
# REST API (publisher) or health/state API (gateway); [gwsync] http_port, GWSYNC_HTTP_PORT.
EXPOSE 9763
# The slim image has no curl: ask node. /healthz needs no credentials. Only works when the HTTP
# server listens on loopback or 0.0.0.0 ([gwsync] http_host).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.GWSYNC_HTTP_PORT || 9763}/healthz`, { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# gwsync handles SIGTERM itself (graceful stop: stop consuming, settle in-flight, flush the outbox).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/gwsync.js"]
CMD ["gateway", "--config", "/etc/gwsync/gwsync.toml"]
