# syntax=docker/dockerfile:1
#
# A golocust worker image: one Go program of this module (an example, or
# your own main package that calls worker.Main) built as a static binary,
# with the --html report's chart library built in, and run as a non-root
# user on a distroless base (CA certificates and time zones, no shell).
# Build it from the repository's root:
#
#   docker build -t golocust-worker:http --build-arg PACKAGE=./examples/http .
#
# docs/deploy.md explains it, with Compose and Kubernetes manifests that
# run Locust's master image and N of these workers; deploy/*_test.go
# checks this file against that guide and runs the build stages' commands.
#
# The chart library (uPlot, from npm) is installed here by npm ci from
# report/package-lock.json, whose integrity hash pins its bytes; the
# builder's own report/node_modules and report/lib never reach the image
# (.dockerignore leaves them out of the build context).
#
# Open files: an image cannot set its limits. The worker raises its soft
# limit to the hard limit at start, as Locust does; the hard limit is the
# container's (docker run --ulimit nofile=524288:524288, Compose's
# ulimits, or the Kubernetes node's container runtime). See docs/deploy.md.

# GO_VERSION is the Go of the build stage: at least go.mod's go line.
ARG GO_VERSION=1.26
# NODE_VERSION is the Node.js (an LTS line) whose npm installs the chart
# library; the lock file, not npm, decides what is installed.
ARG NODE_VERSION=24

# The chart library: only the two package files, so that this layer
# changes only with them (and runs beside the Go stage's module download).
FROM node:${NODE_VERSION}-bookworm-slim AS chartlib
WORKDIR /src
COPY report/package.json report/package-lock.json report/
RUN npm ci --prefix report --no-audit --no-fund

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# The modules first, in a layer of their own that changes only with go.mod
# and go.sum.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# genlib.go copies the library's minified files from node_modules into
# report/lib/, which the report package embeds (go generate's second step).
COPY --from=chartlib /src/report/node_modules report/node_modules
RUN go -C report run genlib.go
# PACKAGE is the main package to build, relative to the module's root.
ARG PACKAGE=./examples/http
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o golocust-worker "$PACKAGE"

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/golocust-worker /golocust-worker
# distroless's nonroot user, by number, so that Kubernetes' runAsNonRoot
# can verify it.
USER 65532:65532
ENTRYPOINT ["/golocust-worker"]
CMD ["--help"]
