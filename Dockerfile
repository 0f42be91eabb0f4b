# syntax=docker/dockerfile:1
# filehub image: one image for both processes.
#   API (default):  node dist/apps/api/src/main.js     (HTTP on $PORT, default 3000)
#   worker:         node dist/apps/worker/src/main.js  (BullMQ consumers; needs DATABASE_URL and REDIS_URL)
# Build:  docker build -t filehub .
# Run:    docker run --init -p 3000:3000 -e AUTH_JWT_SECRET=... filehub
#         (with no DATABASE_URL/REDIS_URL the API runs its embedded profile and keeps its state in
#         /app/data: mount a volume there; see docs/operations.md)

ARG NODE_IMAGE=node:22-bookworm-slim

# ---- base: shared settings
FROM ${NODE_IMAGE} AS base
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

# ---- deps: every dependency, dev included, for the build.
# --ignore-scripts: the root `prepare` script builds the project and the source is not here yet.
# Nothing the build needs depends on an install script (sharp, SWC and msgpackr ship prebuilt
# binaries as optional packages; Prisma's engine download is not used: migrations are plain SQL
# applied by libs/database at start).
FROM base AS deps
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --ignore-scripts

# ---- build: prisma generate + TypeScript into dist/
# The generated Prisma client (libs/database/src/generated, TypeScript) is compiled into dist/ with
# the rest, so the runtime image needs dist/ only.
FROM deps AS build
COPY . .
RUN npm run build \
 && test -f dist/apps/api/src/main.js \
 && test -f dist/apps/worker/src/main.js \
 && test -f dist/console/main.js

# ---- prod-deps: production dependencies only
FROM base AS prod-deps
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts

# ---- runtime
FROM base AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/app/data
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/dist ./dist
# SQL migrations, applied at start (libs/database looks for prisma/migrations above dist/).
COPY --from=build /app/prisma ./prisma
# The web console's page and stylesheet (its scripts are in dist/console).
COPY --from=build /app/apps/console/static ./apps/console/static
# Only the data directory is writable by the service's user.
RUN mkdir -p /app/data && chown node:node /app/data
USER node
EXPOSE 3000
# The API's readiness. The worker serves only /metrics on 9464: docker-compose.yml checks that.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM starts a graceful shutdown (bounded by SHUTDOWN_TIMEOUT_MS); run with --init (or
# `init: true` in compose) so signals are forwarded and zombies reaped.
STOPSIGNAL SIGTERM
CMD ["node", "dist/apps/api/src/main.js"]
