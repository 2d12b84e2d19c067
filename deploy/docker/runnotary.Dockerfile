# runnotary, installed from the repository with the pinned dependencies of constraints.txt.
# Build from the repository root: docker build -f deploy/docker/runnotary.Dockerfile -t runnotary:0.1.0 .
FROM python:3.11.11-slim-bookworm
RUN useradd --create-home --uid 10001 runnotary
WORKDIR /src
COPY . /src
RUN pip install --no-cache-dir -c constraints.txt . && rm -rf /src
USER runnotary
WORKDIR /home/runnotary
ENV RUNNOTARY_METRICS_ADDR=0.0.0.0 \
    RUNNOTARY_STATE_DIR=/home/runnotary/state \
    RUNNOTARY_BUNDLE_DIR=/bundles
EXPOSE 9464
ENTRYPOINT ["runnotary"]
CMD ["serve"]
