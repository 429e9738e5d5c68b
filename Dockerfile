# One image for every service: `docker run openclaw-cluster <service> [flags]`, as `oclaw <service>`.
# Build from the repository root: docker build -t openclaw-cluster .
FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles from source on Node 20.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json turbo.json tsconfig.json tsconfig.base.json ./
COPY packages ./packages
COPY services ./services
COPY examples ./examples
RUN npm ci && npx turbo run build --filter=@openclaw/cli... && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
# The coordinator's read model goes to the writable /data (mount a volume there to keep it).
ENV OPENCLAW_DB_PATH=/data/cluster.db
COPY --from=build /app /app
# /data: the coordinator's SQLite read model (storage.path) when it runs in a container.
RUN mkdir -p /data && chown node:node /data
USER node
ENTRYPOINT ["node", "/app/packages/cli/dist/bin.js"]
CMD ["--help"]
