import { BOOT_VARIABLES, placeholder, shQuote, systemdQuote } from "./template.ts";
import { BOOT_PATHS, WORKER_SERVICE, defaultWorkRoot, workerEnvironment, type WorkerBoot } from "./worker-boot.ts";

/**
 * The bash user data of a Linux worker (cloud-init runs it once, as root). It needs curl, tar,
 * sha256sum, systemd and the AWS CLI, as Amazon Linux and the AWS Deep Learning AMIs ship them.
 */
export function renderLinuxBoot(boot: WorkerBoot): string {
  const paths = BOOT_PATHS.linux;
  const env = workerEnvironment(boot)
    .map(([k, v]) => `${k}=${systemdQuote(v)}`)
    .join("\n");
  return String.raw`#!/bin/bash
# spotq worker bootstrap (rendered by infra/user-data/linux.ts)
set -Eeuo pipefail
exec >>/var/log/spotq-bootstrap.log 2>&1
REGION=${shQuote(boot.region)}
ARTIFACTS_BUCKET=${shQuote(placeholder(BOOT_VARIABLES.artifactsBucket))}
WORKER_KEY=${shQuote(boot.workerKey)}
CONFIG_KEY=${shQuote(boot.configKey)}
NODE_MAJOR=${boot.nodeMajor}
SERVICE=${shQuote(WORKER_SERVICE)}
SPOTQ_HOME=${shQuote(paths.home)}
WORKER_FILE=${shQuote(paths.worker)}
CONFIG_FILE=${shQuote(paths.config)}
WORK_ROOT=${shQuote(boot.workRoot ?? defaultWorkRoot("linux"))}

imds() {
  local token
  token=$(curl -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' http://169.254.169.254/latest/api/token)
  curl -fsS -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/$1"
}

# New instances are protected from scale-in: one that cannot run the worker would idle (and bill) forever.
give_up() {
  trap - ERR
  echo "spotq: bootstrap failed at line $1; terminating this instance"
  aws autoscaling terminate-instance-in-auto-scaling-group --region "$REGION" \
    --instance-id "$(imds meta-data/instance-id)" --should-decrement-desired-capacity \
    || shutdown -h now
  exit 1
}
trap 'give_up $LINENO' ERR

node_major() {
  "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

# 1. Node.js: the AMI's own when it is 22 or newer, else the latest release of the configured
#    major from nodejs.org, checked against its SHASUMS256.txt.
mkdir -p "$SPOTQ_HOME" "$(dirname "$CONFIG_FILE")" "$WORK_ROOT"
NODE=$(command -v node || true)
if [ -z "$NODE" ] || [ "$(node_major "$NODE")" -lt 22 ]; then
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64) arch=arm64 ;;
    *) echo "spotq: unsupported architecture $(uname -m)"; false ;;
  esac
  base="https://nodejs.org/dist/latest-v$NODE_MAJOR.x"
  curl -fsSL "$base/SHASUMS256.txt" -o /tmp/node-SHASUMS256.txt
  file=$(grep -oE "node-v[0-9.]+-linux-$arch\.tar\.gz" /tmp/node-SHASUMS256.txt | head -n 1)
  curl -fsSL "$base/$file" -o "/tmp/$file"
  (cd /tmp && awk -v f="$file" '$2 == f' node-SHASUMS256.txt | sha256sum -c -)
  mkdir -p "$SPOTQ_HOME/node"
  tar -xzf "/tmp/$file" -C "$SPOTQ_HOME/node" --strip-components=1
  rm -f "/tmp/$file"
  NODE="$SPOTQ_HOME/node/bin/node"
fi
ln -sf "$NODE" "$SPOTQ_HOME/node-current"
echo "spotq: node $("$NODE" --version) at $NODE"

# 2. The worker bundle and the fleet config, from the artifacts bucket.
aws s3 cp "s3://$ARTIFACTS_BUCKET/$WORKER_KEY" "$WORKER_FILE" --region "$REGION" --only-show-errors
aws s3 cp "s3://$ARTIFACTS_BUCKET/$CONFIG_KEY" "$CONFIG_FILE" --region "$REGION" --only-show-errors

# 3. The worker as a systemd service with its environment, restarted whenever it fails (an exit
#    code of 0 is an orderly stop: idle self-termination or a Spot notice, the instance is going away).
cat > /etc/spotq/worker.env <<'SPOTQ_ENV'
${env}
SPOTQ_ENV
cat > "/etc/systemd/system/$SERVICE.service" <<'SPOTQ_UNIT'
[Unit]
Description=spotq worker: runs jobs from the queue
Wants=network-online.target
After=network-online.target
StartLimitIntervalSec=0

[Service]
Type=simple
EnvironmentFile=/etc/spotq/worker.env
ExecStart=${paths.home}/node-current ${paths.worker}
WorkingDirectory=${paths.home}
Restart=on-failure
RestartSec=10
KillMode=control-group
TimeoutStopSec=120

[Install]
WantedBy=multi-user.target
SPOTQ_UNIT
systemctl daemon-reload
systemctl enable --now "$SERVICE.service"
trap - ERR
echo "spotq: worker service started"
`;
}
