# mailprobe as a container image: Node 20 on Debian (glibc), production dependencies only, a non-root user,
# runs with a read-only root filesystem; the agent's state lives in the one volume /var/lib/mailprobe.
#   docker build -t mailprobe .
#   docker run --rm -p 127.0.0.1:9465:9465 --read-only --tmpfs /tmp mailprobe demo     # the offline demo
#   docker run -d -p 127.0.0.1:9465:9465 --read-only --tmpfs /tmp -v mailprobe:/var/lib/mailprobe \
#     -v "$PWD/monitors.json:/etc/mailprobe/monitors.json:ro" -v "$PWD/secrets:/etc/mailprobe-secrets:ro" mailprobe
# BUILD_IMAGE needs a compiler (better-sqlite3 is a native module); NODE_IMAGE only runs. Either can name any
# Node 20 image on Debian bookworm: a mirror, or one made offline (.ci/base-image.sh build|slim).
# Pinned by digest (the tag is for people): `scripts/pin-base-images.sh` moves both to what the tags name today.
ARG BUILD_IMAGE=docker.io/library/node:20-bookworm@sha256:8f693eaa7e0a8e71560c9a82b55fd54c2ae920a2ba5d2cde28bac7d1c01c9ba5
ARG NODE_IMAGE=docker.io/library/node:20-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0

FROM ${BUILD_IMAGE} AS build
# npm settings for the build, e.g. --build-arg npm_config_registry=https://npm.example.internal/ or, with a
# filled npm cache mounted at /root/.npm, npm_config_offline=true.
ARG npm_config_registry=https://registry.npmjs.org/
ARG npm_config_offline=false
# The Node images ship their headers here, so node-gyp compiles without downloading them.
ARG npm_config_nodedir=/usr/local
WORKDIR /src
COPY package.json package-lock.json ./
# Scripts off for the install ("prepare" would compile before the sources are here); then the one native
# module is compiled against this image's Node and glibc, never downloaded prebuilt.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm_config_build_from_source=true npm rebuild better-sqlite3 --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="mailprobe" \
      org.opencontainers.image.description="Proves that Microsoft 365 mailboxes still accept app-only OAuth over IMAP, POP3 and SMTP, and says what broke when they don't." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="MIT"
# A numeric, non-root user, so Kubernetes' runAsNonRoot can verify it; its home is the state volume.
RUN groupadd --gid 10001 mailprobe \
 && useradd --uid 10001 --gid mailprobe --home-dir /var/lib/mailprobe --no-create-home --shell /usr/sbin/nologin mailprobe \
 && mkdir -p /var/lib/mailprobe \
 && chown mailprobe:mailprobe /var/lib/mailprobe \
 && chmod 700 /var/lib/mailprobe \
 && mkdir -p /etc/mailprobe
COPY --from=build /src/node_modules /app/node_modules
COPY --from=build /src/dist/src /app/dist/src
COPY package.json /app/
COPY bin /app/bin
COPY schema /app/schema
# No monitors.json in the image: the agent refuses to start (exit 2, naming the path) until one is mounted
# here, so a file mounted at the wrong path never looks healthy. `docker run … mailprobe demo` is the demo.
# The folder is made above: buildah's WORKDIR does not create it in the committed image (seen: env could not
# change into it).
WORKDIR /etc/mailprobe
# MAILPROBE_LISTEN and MAILPROBE_WEB_CONFIG_FILE are read by both `run` and `healthcheck`, so the HEALTHCHECK
# asks where and how the agent listens (https pinned to the web config's cert_file when it serves TLS).
# A container is reached only through its own interface, so the agent listens on all of them without asking for
# a credential: MAILPROBE_INSECURE_LISTEN=true is this image's explicit choice (the agent refuses such a listener
# otherwise). Who reaches it is decided where the port is published (-p 127.0.0.1:9465:9465) or routed (the
# Kubernetes NetworkPolicy). To require a login instead, mount a web config with basic_auth_users or set
# agent.bearerTokenFile, and run with -e MAILPROBE_INSECURE_LISTEN=false.
ENV NODE_ENV=production \
    MAILPROBE_CONFIG=/etc/mailprobe/monitors.json \
    MAILPROBE_STATE_DIR=/var/lib/mailprobe \
    MAILPROBE_LISTEN=0.0.0.0:9465 \
    MAILPROBE_INSECURE_LISTEN=true
USER 10001:10001
VOLUME ["/var/lib/mailprobe"]
EXPOSE 9465
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["node", "/app/bin/mailprobe.js", "healthcheck", "--timeout", "8"]
ENTRYPOINT ["node", "/app/bin/mailprobe.js"]
CMD ["run"]
