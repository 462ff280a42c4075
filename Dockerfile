# cryoet-release as an image, for CI jobs: mount the docker socket to build and push with the host's engine.
#   docker run --rm -v /var/run/docker.sock:/var/run/docker.sock --group-add "$(stat -c %g /var/run/docker.sock)" \
#     -v "$PWD":/work -e AWS_PROFILE -v ~/.aws:/home/release/.aws:ro cryoet-release build --tag my-feature
FROM docker:27-cli AS docker-cli

FROM python:3.11-slim
COPY --from=docker-cli /usr/local/bin/docker /usr/local/bin/docker
# git: default tags and image labels come from the checkout.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/cryoet-release
COPY pyproject.toml README.md ./
COPY src ./src
COPY plugins ./plugins
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 release \
    && git config --system --add safe.directory /work
USER 10001
WORKDIR /work
ENTRYPOINT ["cryoet-release"]
CMD ["--help"]
