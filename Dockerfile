# One image for every Trellis service; the command selects the service (`serve`, `gateway`,
# `auth`, `apps`, `exec`, `migrate`).

FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN rustup target add wasm32-wasip2
COPY . .
RUN cargo build --release --locked --bin trellis \
    && install -D -m 0755 target/release/trellis /out/trellis

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 trellis \
    && useradd --system --uid 10001 --gid trellis --home-dir /var/lib/trellis --no-create-home trellis \
    && install -d -o trellis -g trellis /var/lib/trellis
COPY --from=build /out/trellis /usr/local/bin/trellis
USER 10001:10001
ENV TRELLIS_DATA_DIR=/var/lib/trellis \
    TRELLIS_LOG_FORMAT=json
EXPOSE 8080 8081 8082 8083
ENTRYPOINT ["/usr/local/bin/trellis"]
CMD ["serve"]
