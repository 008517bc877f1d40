# syntax=docker/dockerfile:1

# ---- build ---------------------------------------------------------------------------------------
FROM rust:1.95-bookworm AS builder
WORKDIR /build

# rust-toolchain.toml is left out on purpose: the image already ships the 1.95 toolchain, and the
# file would make rustup download rustfmt and clippy, which a release build does not need.
COPY Cargo.toml Cargo.lock ./
COPY crates/ crates/
COPY src/ src/
COPY migrations/ migrations/
# Cargo.toml declares the `it` integration test target, so its path must exist for cargo to load
# the manifest, even though a release build does not compile it.
COPY tests/ tests/

RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/build/target \
    cargo build --release --locked --bin voxgate \
    && cp target/release/voxgate /usr/local/bin/voxgate

# ---- runtime -------------------------------------------------------------------------------------
FROM debian:bookworm-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 voxgate \
    && useradd --system --uid 10001 --gid voxgate --home-dir /app --shell /usr/sbin/nologin voxgate \
    && mkdir -p /app/data \
    && chown voxgate:voxgate /app/data

COPY --from=builder /usr/local/bin/voxgate /usr/local/bin/voxgate
COPY agents/ /app/agents/

WORKDIR /app
USER voxgate

# Listen on all interfaces inside the container. Without VOXGATE_DATABASE_URL, voxgate keeps an
# embedded SQLite database in VOXGATE_DATA_DIR: mount a volume on /app/data to keep it.
ENV VOXGATE_HTTP_ADDR=0.0.0.0:8080 \
    VOXGATE_DATA_DIR=/app/data
EXPOSE 8080

# No HEALTHCHECK: the slim image has no HTTP client. Probe GET /healthz (liveness) and
# GET /readyz (readiness) from your orchestrator instead.

ENTRYPOINT ["voxgate"]
CMD ["serve"]
