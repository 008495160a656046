# syntax=docker/dockerfile:1
# One image for both halves of slicekv: `slicekv operator` and `slicekv dataplane`
# (ENTRYPOINT node /app/bin/slicekv.js; the chart and the operator pass the command as args).
#
# It runs as a non-root user with a read-only root filesystem: nothing at run time writes
# outside mounted volumes and /tmp (the chart mounts an emptyDir there; data-plane pods mount the
# shared log volume). test/k8s/dockerfileBuild.test.ts replays these steps without a Docker
# engine, makes the result read-only and starts both commands from it; keep the instructions to
# FROM, ARG, WORKDIR, ENV, COPY, RUN, USER, EXPOSE, ENTRYPOINT and CMD, which it understands.
# See "Dockerfile" in docs/kubernetes-resources.md.

ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: compile the TypeScript ----------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY proto/ proto/
COPY dataplane/ dataplane/
COPY operator/ operator/
COPY client/ client/
RUN npm run build

# --- runtime: production dependencies, compiled JavaScript, the .proto contract --------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
# glibc's mmap threshold fixed at 256 KiB (trim threshold 64 MiB), so index tables an index doubling
# frees go back to the system (proto/dataplaneEnvironment.ts: MALLOC_TUNABLE; the pod warns at start without it).
ENV GLIBC_TUNABLES=glibc.malloc.mmap_threshold=262144:glibc.malloc.trim_threshold=67108864
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist/proto/ dist/proto/
COPY --from=build /src/dist/dataplane/ dist/dataplane/
COPY --from=build /src/dist/operator/ dist/operator/
COPY --from=build /src/dist/client/ dist/client/
COPY bin/ bin/
# dist/proto/grpcDefinition.js loads ../../proto/slicekv.proto at run time.
COPY proto/*.proto proto/
# A numeric uid so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
# Client gRPC, admin gRPC, data-plane metrics, operator metrics.
EXPOSE 7000 7001 9100 9200
ENTRYPOINT ["node", "/app/bin/slicekv.js"]
CMD ["help"]
