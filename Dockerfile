# The kpi binary in a small runtime image. Build: docker build -t kpi .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p kpi

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/kpi /usr/local/bin/kpi
COPY deploy/reference /etc/kpi/reference
ENV KPI__PUBLISHER__POPULATION_FILE=/etc/kpi/reference/population.csv \
    KPI__PUBLISHER__POPULATION_IMD_FILE=/etc/kpi/reference/population_imd.csv
USER 65534
ENTRYPOINT ["kpi"]
