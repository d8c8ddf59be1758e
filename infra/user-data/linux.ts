import { METRIC_DIMENSION, METRIC_NAMESPACE, METRICS } from "../../core/names.ts";
import { BOOT_VARIABLES, placeholder, shQuote, systemdQuote } from "./template.ts";
import { BOOT_PATHS, EXIT_POLICY, WORKER_SERVICE, bootNames, defaultWorkRoot, workerEnvironment, type BootArtifact, type WorkerBoot } from "./worker-boot.ts";

/** The systemd units besides the worker's: the failure path it triggers, and the log shipper with its timer. */
export const LINUX_UNITS = {
  leave: "spotq-leave",
  shipLogs: "spotq-ship-logs",
} as const;

/**
 * `spotq-instance.sh`: the settings and functions the bootstrap, the log-shipping timer, the
 * worker unit's restart backoff and its failure path share. Sourced, it only defines;
 * `ship`, `leave <reason> <exit code>`, `backoff` and `service-failed` run one of them.
 */
export function renderLinuxInstanceScript(boot: WorkerBoot): string {
  const paths = BOOT_PATHS.linux;
  const names = bootNames(boot);
  return String.raw`#!/bin/bash
# spotq instance helpers (rendered by infra/user-data/linux.ts)
REGION=${shQuote(boot.region)}
DEPLOYMENT=${shQuote(boot.deployment)}
GROUP=${shQuote(placeholder(BOOT_VARIABLES.group))}
LAUNCH_HOOK=${shQuote(names.launchHook)}
TERMINATE_HOOK=${shQuote(names.terminateHook)}
BOOT_LOG_GROUP=${shQuote(names.bootLogGroup)}
BOOT_LOG=${shQuote(paths.bootLog)}
WORKER_LOG=${shQuote(paths.log)}
SPOTQ_HOME=${shQuote(paths.home)}
SERVICE=${shQuote(WORKER_SERVICE)}
DEBUG_KEEP=${boot.debugKeepFailedInstances ? "true" : "false"}

imds() {
  local token
  token=$(curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' http://169.254.169.254/latest/api/token)
  curl -fsS -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/$1"
}

instance_id() {
  [ -s "$SPOTQ_HOME/instance-id" ] || imds meta-data/instance-id > "$SPOTQ_HOME/instance-id"
  cat "$SPOTQ_HOME/instance-id"
}

# Ships what a log file gained since the last call (a .shipped file keeps the offset), 100 KB a
# batch, one event per line, JSON-escaped here: the AMI need not have jq or python.
ship_log() {
  local file=$1 stream=$2 mark="$1.shipped" from size count ts batch round
  for round in 1 2 3 4 5 6 7 8 9 10; do
    [ -f "$file" ] || return 0
    from=$(cat "$mark" 2>/dev/null || echo 0)
    size=$(stat -c %s "$file")
    [ "$size" -ge "$from" ] || from=0
    [ "$size" -gt "$from" ] || return 0
    count=$((size - from)); [ "$count" -le 102400 ] || count=102400
    ts=$(date +%s%3N)
    batch=$(mktemp)
    dd if="$file" iflag=skip_bytes,count_bytes skip="$from" count="$count" status=none \
      | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' -e 's/[[:cntrl:]]//g' -e '/^[[:space:]]*$/d' \
      | sed -e "s/^/{\"timestamp\":$ts,\"message\":\"/" -e 's/$/"}/' | paste -sd, - > "$batch"
    if [ -s "$batch" ]; then
      sed -i -e '1s/^/[/' -e '$s/$/]/' "$batch"
      aws logs create-log-stream --region "$REGION" --log-group-name "$BOOT_LOG_GROUP" --log-stream-name "$stream" >/dev/null 2>&1 || true
      aws logs put-log-events --region "$REGION" --log-group-name "$BOOT_LOG_GROUP" --log-stream-name "$stream" --log-events "file://$batch" >/dev/null || { rm -f "$batch"; return 1; }
    fi
    rm -f "$batch"
    echo $((from + count)) > "$mark"
  done
}

# The bootstrap log to stream <instance id>, the worker's output to <instance id>/service.
ship_logs() {
  local id
  id=$(instance_id) || return 1
  ship_log "$BOOT_LOG" "$id"
  ship_log "$WORKER_LOG" "$id/service"
}

put_metric() {
  aws cloudwatch put-metric-data --region "$REGION" --namespace ${shQuote(METRIC_NAMESPACE)} --metric-name "$1" --value 1 --unit Count --dimensions "${METRIC_DIMENSION}=$DEPLOYMENT"
}

# The failure path (CONTRACTS section 4, "leaves"): say why, count it, ship the evidence, then give
# the instance back: ABANDON the launch hook while it is pending, else terminate without decrement
# (Auto Scaling launches a replacement; the boot breaker stops a loop of them). Every step is tried
# on its own; shutdown is the last resort.
leave() {
  local reason=$1 code=$2 id="" state="" metric=${METRICS.workerCrashLoop} gone=false
  set +e
  trap - ERR
  echo "spotq: this instance leaves: $reason (exit code $code)"
  id=$(instance_id) || echo "spotq: no instance id from IMDS"
  if [ -n "$id" ]; then
    state=$(aws autoscaling describe-auto-scaling-instances --region "$REGION" --instance-ids "$id" --query 'AutoScalingInstances[0].LifecycleState' --output text) \
      || echo "spotq: cannot read the lifecycle state"
  fi
  case "$reason:$code:$state" in
    bootstrap:*|*:2:*|*:3:*|*:Pending*) metric=${METRICS.bootstrapFailed} ;;
  esac
  put_metric "$metric" && echo "spotq: counted $metric" || echo "spotq: cannot put the $metric metric"
  ship_logs || echo "spotq: cannot ship the logs"
  if [ "$DEBUG_KEEP" = true ]; then
    echo "spotq: fleet.debugKeepFailedInstances is on: this instance stays for a look (SSM Session Manager); terminate it when done"
    return 0
  fi
  if [ -n "$id" ] && [ "$state" = "Pending:Wait" ] \
    && aws autoscaling complete-lifecycle-action --region "$REGION" --auto-scaling-group-name "$GROUP" \
      --lifecycle-hook-name "$LAUNCH_HOOK" --instance-id "$id" --lifecycle-action-result ABANDON; then
    echo "spotq: abandoned the launch of $id"; gone=true
  fi
  if [ -n "$id" ] && [ "$gone" = false ] && [ "$state" != "Terminating:Wait" ] \
    && aws autoscaling terminate-instance-in-auto-scaling-group --region "$REGION" --instance-id "$id" --no-should-decrement-desired-capacity; then
    echo "spotq: asked Auto Scaling to replace $id"; gone=true
  fi
  # No worker is left to hold the terminate hook: complete it once the instance waits in it, rather
  # than keep an idle GPU instance for the hook's whole timeout.
  if [ -n "$id" ] && { [ "$gone" = true ] && [ "$state" != "Pending:Wait" ] || [ "$state" = "Terminating:Wait" ]; }; then
    local tries=0
    while [ "$state" != "Terminating:Wait" ] && [ "$tries" -lt 30 ]; do
      sleep 2; tries=$((tries + 1))
      state=$(aws autoscaling describe-auto-scaling-instances --region "$REGION" --instance-ids "$id" --query 'AutoScalingInstances[0].LifecycleState' --output text) || state=""
    done
    if [ "$state" = "Terminating:Wait" ] \
      && aws autoscaling complete-lifecycle-action --region "$REGION" --auto-scaling-group-name "$GROUP" \
        --lifecycle-hook-name "$TERMINATE_HOOK" --instance-id "$id" --lifecycle-action-result CONTINUE; then
      echo "spotq: completed the terminate hook of $id"; gone=true
    fi
  fi
  ship_logs >/dev/null 2>&1
  if [ "$gone" = false ]; then
    echo "spotq: shutting down (the launch template terminates on shutdown)"
    shutdown -h now
  fi
}

# ExecStartPre of the worker unit: restart n waits min(2^(n-1), ${EXIT_POLICY.maxBackoffSeconds}) s, as the Windows service does.
backoff() {
  local n
  n=$(systemctl show -p NRestarts --value "$SERVICE" 2>/dev/null || echo 0)
  [ "${"$"}{n:-0}" -gt 0 ] 2>/dev/null || return 0
  local delay=$((1 << (n - 1)))
  [ "$delay" -le ${EXIT_POLICY.maxBackoffSeconds} ] || delay=${EXIT_POLICY.maxBackoffSeconds}
  echo "spotq: restart $n of the worker in $delay s"
  sleep "$delay"
}

# OnFailure of the worker unit: exit 2 or 3 (no restart) or a crash loop (the start limit) leaves.
service_failed() {
  local result status
  result=$(systemctl show -p Result --value "$SERVICE")
  status=$(systemctl show -p ExecMainStatus --value "$SERVICE")
  if [ "$(systemctl is-system-running 2>/dev/null)" = stopping ]; then
    echo "spotq: the worker stopped ($result, $status) while the system shuts down: nothing to do"
    return 0
  fi
  case "$result:$status" in
    exit-code:${EXIT_POLICY.badConfig}) leave config ${EXIT_POLICY.badConfig} ;;
    exit-code:${EXIT_POLICY.preflightFailed}) leave preflight ${EXIT_POLICY.preflightFailed} ;;
    start-limit-hit:*) leave crash-loop "$status" ;;
    *) echo "spotq: the worker failed ($result, status $status): not a reason to leave" ;;
  esac
}

case "${"$"}{1:-}" in
  ship) ship_logs ;;
  leave) leave "$2" "$3" ;;
  backoff) backoff ;;
  service-failed) service_failed >> "$BOOT_LOG" 2>&1; ship_logs ;;
esac
`;
}

/**
 * The container profile's step (processor.container): the worker runs each job with `docker run`,
 * so Docker must answer before the worker's preflight asks it. The ECS GPU-optimised AMI ships
 * Docker, the NVIDIA driver and the NVIDIA container toolkit, and an ECS agent this fleet does not
 * use (left running it would try to join the cluster "default"). The preflight then checks the
 * daemon, pulls the image (the worker logs in to ECR with the instance role) and, with `gpus`,
 * runs nvidia-smi in the image; a failure there is a failed boot like any other.
 */
function containerStep(container: { gpus: boolean }): string {
  return String.raw`# 2b. Docker for processor.container${container.gpus ? " (with GPUs: the NVIDIA container toolkit, checked by the worker's preflight)" : ""}.
systemctl disable --now ecs.service >/dev/null 2>&1 || true
command -v docker >/dev/null || { echo "spotq: processor.container needs Docker on the AMI (the ECS GPU-optimised AMI has it)"; false; }
systemctl enable --now docker.service
for attempt in $(seq 1 60); do docker version --format '{{.Server.Version}}' >/dev/null 2>&1 && break; sleep 1; done
DOCKER_VERSION=$(docker version --format '{{.Server.Version}}') || { echo "spotq: the Docker daemon does not answer"; false; }
echo "spotq: docker $DOCKER_VERSION answers"

`;
}

function artifactVars(name: string, a: BootArtifact): string {
  return `${name}_KEY=${shQuote(a.key)} ${name}_VERSION=${shQuote(placeholder(a.version))} ${name}_SHA256=${shQuote(a.sha256)}`;
}

/**
 * The bash user data of a Linux worker (cloud-init runs it once, as root). It needs curl, tar,
 * sha256sum, systemd and the AWS CLI, as Amazon Linux and the AWS Deep Learning AMIs ship them.
 * The helpers are defined before anything runs; every failure from the first `mkdir` on goes
 * through the ERR trap to the failure path.
 */
export function renderLinuxBoot(boot: WorkerBoot): string {
  const paths = BOOT_PATHS.linux;
  const env = workerEnvironment(boot)
    .map(([k, v]) => `${k}=${systemdQuote(v)}`)
    .join("\n");
  const node = boot.artifacts.node;
  return String.raw`#!/bin/bash
# spotq worker bootstrap (rendered by infra/user-data/linux.ts)
set -Eeuo pipefail
exec >>${paths.bootLog} 2>&1
INSTANCE_SCRIPT=$(cat <<'SPOTQ_INSTANCE'
${renderLinuxInstanceScript(boot)}SPOTQ_INSTANCE
)
eval "$INSTANCE_SCRIPT"
trap 'echo "spotq: bootstrap failed at line $LINENO"; leave bootstrap 1; exit 1' ERR
ARTIFACTS_BUCKET=${shQuote(placeholder(BOOT_VARIABLES.artifactsBucket))}
${artifactVars("WORKER", boot.artifacts.worker)}
${artifactVars("CONFIG", boot.artifacts.config)}
${node ? artifactVars("NODE", node) : ""}
NODE_MAJOR=${boot.nodeMajor}
WORKER_FILE=${shQuote(paths.worker)}
CONFIG_FILE=${shQuote(paths.config)}
ENV_FILE=${shQuote(paths.env)}
INSTANCE_FILE=${shQuote(paths.instanceScript)}
WORK_ROOT=${shQuote(boot.workRoot ?? defaultWorkRoot("linux"))}

# Fetches the exact version the launch template names, and refuses bytes that are not the ones synthesized.
fetch_artifact() {
  aws s3api get-object --region "$REGION" --bucket "$ARTIFACTS_BUCKET" --key "$1" --version-id "$2" "$4" >/dev/null
  echo "$3  $4" | sha256sum -c - >/dev/null || { echo "spotq: checksum mismatch for s3://$ARTIFACTS_BUCKET/$1 ($2)"; false; }
}

# 0. Evidence before anything else can fail: ship this log now and every minute from now on.
echo "spotq: bootstrap of a ${boot.platform} worker for deployment $DEPLOYMENT starting at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
mkdir -p "$SPOTQ_HOME" "$(dirname "$CONFIG_FILE")" "$(dirname "$WORKER_LOG")"
printf '%s\n' "$INSTANCE_SCRIPT" > "$INSTANCE_FILE"
chmod 0755 "$INSTANCE_FILE"
cat > /etc/systemd/system/${LINUX_UNITS.shipLogs}.service <<SPOTQ_UNIT
[Unit]
Description=spotq: ship the boot log and the worker's output to CloudWatch Logs
[Service]
Type=oneshot
ExecStart=$INSTANCE_FILE ship
SPOTQ_UNIT
cat > /etc/systemd/system/${LINUX_UNITS.shipLogs}.timer <<'SPOTQ_UNIT'
[Unit]
Description=spotq: ship the logs every minute
[Timer]
OnActiveSec=0
OnUnitActiveSec=60
AccuracySec=5
[Install]
WantedBy=timers.target
SPOTQ_UNIT
systemctl daemon-reload
systemctl enable --now ${LINUX_UNITS.shipLogs}.timer
ship_logs
mkdir -p "$WORK_ROOT"

# 1. Node.js: ${node ? "the pinned release from the artifacts bucket (fleet.artifacts.node), checked against its SHA-256" : "the AMI's own (fleet.artifacts.node pins one in the artifacts bucket instead)"}.
${
  node
    ? String.raw`NODE_RELEASE=${shQuote(node.release)}
fetch_artifact "$NODE_KEY" "$NODE_VERSION" "$NODE_SHA256" /tmp/node.tar.gz
mkdir -p "$SPOTQ_HOME/node"
tar -xzf /tmp/node.tar.gz -C "$SPOTQ_HOME/node" --strip-components=1
rm -f /tmp/node.tar.gz
NODE="$SPOTQ_HOME/node/bin/node"
[ "$("$NODE" --version)" = "v$NODE_RELEASE" ] || { echo "spotq: the archive does not hold Node.js $NODE_RELEASE for this CPU"; false; }`
    : String.raw`NODE=$(command -v node || true)
if [ -z "$NODE" ] || [ "$("$NODE" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -lt "$NODE_MAJOR" ]; then
  echo "spotq: no Node.js $NODE_MAJOR or newer on this AMI: install it in the AMI, or pin a release in fleet.artifacts.node (npm run fetch:node)"
  false
fi`
}
ln -sf "$NODE" "$SPOTQ_HOME/node-current"
echo "spotq: node $("$NODE" --version) at $NODE"

# 2. The worker bundle and the fleet config, exactly the versions this launch template names.
fetch_artifact "$WORKER_KEY" "$WORKER_VERSION" "$WORKER_SHA256" "$WORKER_FILE"
fetch_artifact "$CONFIG_KEY" "$CONFIG_VERSION" "$CONFIG_SHA256" "$CONFIG_FILE"

${boot.container ? containerStep(boot.container) : ""}# 3. The worker as a systemd service (CONTRACTS section 4): exit 0 stops it for good; 2 (bad config)
#    and 3 (preflight failed) are not restarted; a crash restarts after 1, 2, 4, 8, 16 s, at most
#    ${EXIT_POLICY.maxRestarts} times in ${EXIT_POLICY.windowSeconds} s; the unit then fails and OnFailure makes the instance leave.
cat > "$ENV_FILE" <<'SPOTQ_ENV'
${env}
SPOTQ_ENV
cat > /etc/systemd/system/${LINUX_UNITS.leave}.service <<SPOTQ_UNIT
[Unit]
Description=spotq: the worker failed for good, this instance leaves
[Service]
Type=oneshot
ExecStart=$INSTANCE_FILE service-failed
SPOTQ_UNIT
cat > "/etc/systemd/system/$SERVICE.service" <<SPOTQ_UNIT
[Unit]
Description=spotq worker: runs jobs from the queue
Wants=network-online.target${boot.container ? " docker.service" : ""}
After=network-online.target${boot.container ? " docker.service" : ""}
StartLimitIntervalSec=${EXIT_POLICY.windowSeconds}
StartLimitBurst=${EXIT_POLICY.maxRestarts + 1}
OnFailure=${LINUX_UNITS.leave}.service

[Service]
Type=simple
EnvironmentFile=$ENV_FILE
ExecStartPre=-$INSTANCE_FILE backoff
ExecStart=$SPOTQ_HOME/node-current $WORKER_FILE
WorkingDirectory=$SPOTQ_HOME
StandardOutput=append:$WORKER_LOG
StandardError=inherit
Restart=on-failure
RestartSec=1
RestartPreventExitStatus=${EXIT_POLICY.badConfig} ${EXIT_POLICY.preflightFailed}
KillMode=control-group
TimeoutStopSec=${boot.stopGraceSeconds}

[Install]
WantedBy=multi-user.target
SPOTQ_UNIT
systemctl daemon-reload
systemctl enable --now "$SERVICE.service"
trap - ERR
echo "spotq: worker service started"
ship_logs || true
`;
}
