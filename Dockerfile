# lorad: multi-stage build on Debian 12, mirroring the README's install steps.
#   docker build -t lorad .
#   docker run -v lorad-state:/var/lib/lorad -v /srv/lorad:/srv/lorad lorad
FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN LORAD_BUILD_TYPE=Release LORAD_CMAKE_ARGS="-DLORAD_BUILD_TESTS=OFF" bash scripts/build.sh \
 && cmake --install build --prefix /opt/lorad

FROM debian:bookworm-slim AS run
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libtorch1.13 libopenblas0-pthread libgrpc++1.51 libprotobuf32 libabsl20220623 \
      libyaml-cpp0.7 libspdlog1.10 libfmt9 libpcre2-8-0 libutf8proc2 libsqlite3-0 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 civetweb libsystemd0 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system lorad && useradd --system --gid lorad --home /var/lib/lorad lorad \
 && mkdir -p /var/lib/lorad /run/lorad /srv/lorad /etc/lorad \
 && chown lorad:lorad /var/lib/lorad /run/lorad /srv/lorad
COPY --from=build /opt/lorad /usr
COPY deploy/lorad.yaml /etc/lorad/lorad.yaml
USER lorad
VOLUME ["/var/lib/lorad"]
EXPOSE 7070 9464
ENV LORAD_ADDRESS=unix:/run/lorad/lorad.sock
HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD ["loractl", "health"]
ENTRYPOINT ["lorad", "--config", "/etc/lorad/lorad.yaml", "--state-dir", "/var/lib/lorad"]
