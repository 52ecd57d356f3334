# syntax=docker/dockerfile:1.7
#
# aigov container image.
#
#   docker build -t aigov .                 the runtime image (default target)
#   docker build --target mock -t aigov-mock .   the mock provider used by docker-compose.yml
#
# Base: node:22-bookworm-slim rather than distroless nodejs22. Both are Debian 12
# (glibc), so bcrypt's prebuilt linux-x64/arm64 binary loads in either; slim wins
# on operability: the same base serves the build and prune stages, `aigov`
# admin commands (keys, logs verify) run through `docker exec` / `kubectl exec`
# with a shell available for incident work, and we still remove npm, npx,
# corepack and yarn from the runtime so the image carries no package manager.
# To pin a digest: --build-arg NODE_IMAGE=node:22-bookworm-slim@sha256:...
ARG NODE_IMAGE=node:22-bookworm-slim

# ---- deps: every dependency, dev ones included, for the TypeScript build ----
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    npm ci --no-audit --no-fund

# ---- build: compile src/ to dist/ ----
FROM deps AS build
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
COPY config ./config
COPY policies ./policies
COPY ui ./ui
RUN npm run build

# ---- mock: the local demo's fake OpenAI/Anthropic upstream (never shipped) ----
FROM build AS mock
COPY test/support ./test/support
COPY deploy/mock-provider.ts ./deploy/mock-provider.ts
ENV MOCK_PORT=9000 MOCK_HOST=0.0.0.0
EXPOSE 9000
USER 1000:1000
CMD ["node", "--import", "tsx", "deploy/mock-provider.ts"]

# ---- prod-deps: production dependencies only, installed fresh ----
# A clean `npm ci --omit=dev` on the same base (instead of `npm prune`) yields
# exactly the lockfile's production tree, with no build leftovers.
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    npm ci --omit=dev --no-audit --no-fund

# ---- runtime ----
FROM ${NODE_IMAGE} AS runtime
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="aigov" \
      org.opencontainers.image.description="Governance proxy for LLM APIs" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

# The app never installs packages at run time; a package manager in the image
# is only attack surface. The `aigov` wrapper keeps the CLI one word away.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
           /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-* \
 && printf '#!/bin/sh\nexec node /app/dist/cli/index.js "$@"\n' > /usr/local/bin/aigov \
 && chmod 0755 /usr/local/bin/aigov \
 && mkdir -p /var/lib/aigov/spool /app/data \
 && chown 1000:1000 /var/lib/aigov/spool /app/data

WORKDIR /app
# Code stays owned by root so the process (uid 1000) cannot rewrite itself,
# even when the root filesystem is not mounted read-only.
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY config ./config
COPY policies ./policies

# Only non-secret defaults. Credentials (provider keys, DATABASE_URL, REDIS_URL,
# ADMIN_TOKEN, AIGOV_AUDIT_HMAC_KEY) come from the environment at run time.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    POLICIES_PATH=/app/policies \
    AIGOV_AUDIT_SPOOL_DIR=/var/lib/aigov/spool

# Numeric so Kubernetes' runAsNonRoot can verify it without /etc/passwd (uid 1000 is "node").
USER 1000:1000
EXPOSE 8080

# No curl in slim images: node itself probes /health, over HTTPS when TLS is on.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const t=!!process.env.TLS_CERT;require(t?'https':'http').get({host:'127.0.0.1',port:process.env.PORT||8080,path:'/health',timeout:4000,rejectUnauthorized:false},r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1)).on('timeout',()=>process.exit(1))"]

# The image is the `aigov` CLI: `docker run aigov migrate`, `docker run aigov keys list`.
ENTRYPOINT ["node", "--enable-source-maps", "dist/cli/index.js"]
CMD ["serve"]
