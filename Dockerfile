# syntax=docker/dockerfile:1
# Data Backbone app image: the compiled build (npm run build) with production dependencies only, run as
# the unprivileged `node` user. One image for every role: the command picks it (docs/deploy.md).
#   docker build -t dbb .
#   docker run --env-file dbb.env -p 8080:8080 dbb                      # gateway (default)
#   docker run --env-file dbb.env dbb run workers                        # every processor and projection
#   docker run --env-file dbb.env -v /data/ingest:/data/ingest dbb ingest finder /etc/dbb/ingest.yaml

FROM node:24-bookworm-slim AS build
WORKDIR /app
ENV DBB_SETUP=skip
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim AS runtime
# NODE_OPTIONS: semi-spaces of at most 16 MB (V8 let the young generation grow to 64 MB) keep each process
# under 250 MB RSS under load (bench/memory.ts, docs/benchmarks.md)
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=16 \
    DBB_STACK=external \
    DBB_HOST=0.0.0.0 \
    DBB_PORT=8080 \
    DBB_METRICS_HOST=0.0.0.0 \
    DBB_METRICS_PORT=9464 \
    DBB_STATE_DIR=/var/lib/dbb
WORKDIR /app
COPY --from=build --chown=root:root /app/package.json ./package.json
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --from=build --chown=root:root /app/bin ./bin
RUN mkdir -p /var/lib/dbb && chown node:node /var/lib/dbb
USER node
# 8080: the gateway (API, /healthz, /metrics); 9464: /healthz, /readyz, /metrics of workers and the finder
EXPOSE 8080 9464
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "const h=p=>fetch('http://127.0.0.1:'+p+'/healthz').then(r=>r.ok||Promise.reject());Promise.any([h(process.env.DBB_PORT||8080),h(process.env.DBB_METRICS_PORT||9464)]).then(()=>process.exit(0),()=>process.exit(1))"]
ENTRYPOINT ["node", "/app/bin/dbb.js"]
CMD ["run", "gateway"]
