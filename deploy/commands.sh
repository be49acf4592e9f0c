#!/usr/bin/env bash
# Print (default) or run (--run) the exact commands that put wirewatch's jobs on Dataflow, Flink or Spark.
#
#   deploy/commands.sh [--run] STEP
#
# STEP is one of:
#   setup        one-time: enable APIs, create the bucket and the Artifact Registry repository
#   image        build the launcher/worker image (deploy/Dockerfile) and push it
#   template     upload the Flex Template spec (deploy/flex-template.json) pointing at the image
#   batch        image + template + run the batch job from the template (what `make dataflow-batch` shows)
#   stream       image + template + run the streaming job from the template (`make dataflow-stream`)
#   drain        drain the running streaming job (windows in flight are written, state is kept consistent)
#   direct-batch / direct-stream   launch from this checkout instead of a template (same image for workers)
#   flink-stream / flink-batch     the portable Flink runner (a Flink cluster with its REST port reachable)
#   spark-batch                    the portable Spark runner (batch only: it cannot run the streaming job)
#
# Settings come from the environment; the defaults below are placeholders to replace:
#   PROJECT REGION BUCKET REPOSITORY TAG IMAGE TEMPLATE OUTPUT SOURCES FLINK_MASTER SPARK_MASTER
# Nothing here runs in CI: without --run the script only prints, so the output can be reviewed or pasted.
set -euo pipefail

RUN=0
if [[ "${1:-}" == "--run" ]]; then
  RUN=1
  shift
fi
STEP="${1:-help}"

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "${HERE}/.." && pwd)"

PROJECT="${PROJECT:-my-project}"
REGION="${REGION:-europe-west1}"
BUCKET="${BUCKET:-gs://${PROJECT}-wirewatch}"
REPOSITORY="${REPOSITORY:-wirewatch}"
TAG="${TAG:-$(git -C "${ROOT}" rev-parse --short HEAD 2>/dev/null || echo dev)}"
IMAGE="${IMAGE:-${REGION}-docker.pkg.dev/${PROJECT}/${REPOSITORY}/wirewatch:${TAG}}"
TEMPLATE="${TEMPLATE:-${BUCKET}/templates/wirewatch-${TAG}.json}"
OUTPUT="${OUTPUT:-${BUCKET}/wirewatch}"
# The launcher reads the sources file from its own disk: a path inside the image (config/ and samples/ are copied
# in, so the default ingests the bundled samples; point SOURCES at your own file baked into the image).
SOURCES="${SOURCES:-/template/config/sources.yaml}"
FLINK_MASTER="${FLINK_MASTER:-localhost:8081}"
SPARK_MASTER="${SPARK_MASTER:-spark://localhost:7077}"
STAMP="$(date -u +%Y%m%d-%H%M%S)"

# Print one command exactly as it would run (arguments shell-quoted only where needed), then run it with --run.
cmd() {
  local arg out=()
  for arg in "$@"; do
    if [[ "${arg}" =~ ^[A-Za-z0-9_./:=,@+%-]+$ ]]; then
      out+=("${arg}")
    else
      out+=("$(printf '%q' "${arg}")")
    fi
  done
  printf '%s\n' "${out[*]}"
  if (( RUN )); then
    "$@"
  fi
}

comment() { printf '# %s\n' "$*"; }

setup() {
  comment "one-time project set-up"
  cmd gcloud services enable dataflow.googleapis.com artifactregistry.googleapis.com cloudbuild.googleapis.com \
    --project "${PROJECT}"
  cmd gcloud storage buckets create "${BUCKET}" --project "${PROJECT}" --location "${REGION}"
  cmd gcloud artifacts repositories create "${REPOSITORY}" --repository-format docker --location "${REGION}" \
    --project "${PROJECT}"
  cmd gcloud auth configure-docker "${REGION}-docker.pkg.dev"
}

image() {
  comment "build and push the launcher/worker image (from the repository root)"
  cmd docker build --file "${ROOT}/deploy/Dockerfile" --tag "${IMAGE}" "${ROOT}"
  cmd docker push "${IMAGE}"
}

template() {
  local rendered="${TMPDIR:-/tmp}/wirewatch-flex-template-${TAG}.json"
  comment "render deploy/flex-template.json with the image, then upload it as the template spec"
  sed "s|\${IMAGE}|${IMAGE}|" "${ROOT}/deploy/flex-template.json" > "${rendered}"
  cmd gcloud storage cp "${rendered}" "${TEMPLATE}"
}

flex_run() {  # $1: job (batch|streaming), $2: Dataflow job name, then extra KEY=VALUE parameters
  local job="$1" name="$2"
  shift 2
  local params="job=${job},sources=${SOURCES},output=${OUTPUT},sdk_container_image=${IMAGE}"
  local extra
  for extra in "$@"; do
    params="${params},${extra}"
  done
  local flags=()
  if [[ "${job}" == "streaming" ]]; then
    flags=(--enable-streaming-engine)
  fi
  cmd gcloud dataflow flex-template run "${name}" \
    --project "${PROJECT}" --region "${REGION}" \
    --template-file-gcs-location "${TEMPLATE}" \
    --temp-location "${BUCKET}/tmp" --staging-location "${BUCKET}/staging" \
    "${flags[@]}" --parameters "${params}"
}

case "${STEP}" in
  setup) setup ;;
  image) image ;;
  template) template ;;
  batch)
    image
    template
    comment "one batch run (schedule it with Cloud Scheduler or cron; the job exits when done)"
    flex_run batch "wirewatch-batch-${STAMP}"
    ;;
  stream)
    image
    template
    comment "the streaming job: runs until drained; Streaming Engine keeps its state off the workers"
    flex_run streaming "wirewatch-stream" poll_interval=300 window=300
    comment "then, to stop it without losing windows in flight:"
    comment "  deploy/commands.sh drain"
    ;;
  drain)
    comment "drain the streaming job: no new ticks, in-flight windows are written, then it stops"
    comment "its id (set JOB_ID to it):"
    cmd gcloud dataflow jobs list --project "${PROJECT}" --region "${REGION}" --status active \
      --filter "name=wirewatch-stream" --format "value(id)"
    cmd gcloud dataflow jobs drain --project "${PROJECT}" --region "${REGION}" "${JOB_ID:-JOB_ID}"
    ;;
  direct-batch)
    comment "launch from this checkout; workers run the pushed image (or use --setup_file ./setup.py instead)"
    cmd python -m pipelines.batch --sources config/sources.yaml --output "${OUTPUT}" \
      --runner DataflowRunner --project "${PROJECT}" --region "${REGION}" --temp_location "${BUCKET}/tmp" \
      --sdk_container_image "${IMAGE}"
    ;;
  direct-stream)
    cmd python -m pipelines.streaming --sources config/sources.yaml --output "${OUTPUT}" \
      --poll-interval 300 --window 300 \
      --runner DataflowRunner --project "${PROJECT}" --region "${REGION}" --temp_location "${BUCKET}/tmp" \
      --sdk_container_image "${IMAGE}" --enable_streaming_engine --no_wait_until_finish
    ;;
  flink-stream)
    comment "portable Flink runner; the job server starts from Beam's released jar (Java 11+ needed here)"
    cmd python -m pipelines.streaming --sources config/sources.yaml --output "${OUTPUT}" \
      --poll-interval 300 --window 300 \
      --runner FlinkRunner --flink_master "${FLINK_MASTER}" --flink_version 1.20 \
      --environment_type DOCKER --environment_config "${IMAGE}" \
      --checkpointing_interval 60000 --no_wait_until_finish
    ;;
  flink-batch)
    cmd python -m pipelines.batch --sources config/sources.yaml --output "${OUTPUT}" \
      --runner FlinkRunner --flink_master "${FLINK_MASTER}" --flink_version 1.20 \
      --environment_type DOCKER --environment_config "${IMAGE}"
    ;;
  spark-batch)
    comment "portable Spark runner (Spark 3); batch only, the streaming job needs unbounded splittable DoFns"
    cmd python -m pipelines.batch --sources config/sources.yaml --output "${OUTPUT}" \
      --runner SparkRunner --spark_master_url "${SPARK_MASTER}" \
      --environment_type DOCKER --environment_config "${IMAGE}"
    ;;
  help | -h | --help)
    sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    ;;
  *)
    echo "unknown step: ${STEP} (try: deploy/commands.sh help)" >&2
    exit 2
    ;;
esac
