# A small runtime image of tael: `docker build -t tael .` then
#   docker run -p 7701:7701 -p 4317:4317 -p 4318:4318 -v tael-data:/data tael
# Storage (data and WAL) lives in the /data volume; the listeners bind
# 0.0.0.0 inside the container; the health check asks the REST API.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p tael-cli --bin tael \
 && cp target/release/tael /usr/local/bin/tael

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /data tael \
 && mkdir -p /data && chown tael /data
COPY --from=build /usr/local/bin/tael /usr/local/bin/tael
USER tael
ENV TAEL_DATA_DIR=/data/data \
    TAEL_WAL_DIR=/data/wal \
    TAEL_REST_API_ADDR=0.0.0.0:7701 \
    TAEL_OTLP_GRPC_ADDR=0.0.0.0:4317 \
    TAEL_OTLP_HTTP_ADDR=0.0.0.0:4318 \
    TAEL_SERVER=http://127.0.0.1:7701
VOLUME ["/data"]
EXPOSE 7701 4317 4318
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["tael", "server", "status"]
ENTRYPOINT ["tael"]
CMD ["serve"]
