# kurento-media-server (Rust): a drop-in replacement for the kurento/kurento-media-server image.
# Same port, same config paths (/etc/kurento), same KMS_* variables, same health check.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --bin kurento-media-server

FROM debian:bookworm-slim
# GStreamer's runtime plugins: recording, playing and transcoding run on KMS's own engine.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
      gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
      gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-x gstreamer1.0-opencv opencv-data \
      tesseract-ocr tesseract-ocr-eng \
    && rm -rf /var/lib/apt/lists/* && mkdir -p /etc/kurento/modules/kurento
COPY --from=build /src/target/release/kurento-media-server /usr/bin/kurento-media-server
EXPOSE 8888/tcp 5000-5050/udp
ENV KMS_MIN_PORT=5000 KMS_MAX_PORT=5050
# KMS's own health check: an upgrade request without a key gets an immediate HTTP 500.
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s --retries=3 \
  CMD test "$(curl --silent --no-buffer --output /dev/null --write-out '%{http_code}' \
        --header 'Connection: Upgrade' --header 'Upgrade: websocket' \
        --header 'Host: 127.0.0.1:8888' --header 'Origin: 127.0.0.1' \
        http://127.0.0.1:8888/kurento)" = 500
ENTRYPOINT ["/usr/bin/kurento-media-server"]
