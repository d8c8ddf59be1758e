/**
 * User data is rendered here as a Terraform template file: the deployment's names, known only at
 * apply time, are `${variable}` placeholders that `templatefile()` fills in; everything else is
 * literal text, with Terraform's own template sequences escaped.
 */

import { terraformLiteral } from "../constructs/terraform-string.ts";

/** The template variables, filled by Terraform at apply time. */
export const BOOT_VARIABLES = {
  artifactsBucket: "artifacts_bucket",
  table: "table",
  queueUrl: "queue_url",
  dlqUrl: "dlq_url",
  /** The high-priority queue's URL; empty when `queue.highPriority` is off. */
  highQueueUrl: "high_queue_url",
  bucket: "bucket",
  group: "group",
  /**
   * `scaling.onDemandFallback` only: the kind of group the instance is in (`spot` or `on-demand`),
   * and for a Spot instance the On-Demand queue's URL and group name (empty for an On-Demand one).
   */
  groupKind: "group_kind",
  onDemandQueueUrl: "ondemand_queue_url",
  onDemandGroup: "ondemand_group",
  /** Version ids of the artifacts: an instance fetches exactly the version its launch template names. */
  workerVersion: "worker_version",
  configVersion: "config_version",
  serviceVersion: "service_version",
  nodeVersion: "node_version",
} as const;

export type BootVariable = (typeof BOOT_VARIABLES)[keyof typeof BOOT_VARIABLES];

/** The variables every user data uses: the deployment's resource names. */
export const NAME_VARIABLES: readonly BootVariable[] = [
  BOOT_VARIABLES.artifactsBucket,
  BOOT_VARIABLES.table,
  BOOT_VARIABLES.queueUrl,
  BOOT_VARIABLES.dlqUrl,
  BOOT_VARIABLES.highQueueUrl,
  BOOT_VARIABLES.bucket,
  BOOT_VARIABLES.group,
];

/**
 * The variables of a deployment with `scaling.onDemandFallback`: one template serves both groups'
 * launch templates, each filling these with its own values. Without the fallback the user data
 * has none of them (it is the same as before the fallback existed).
 */
export const FALLBACK_VARIABLES: readonly BootVariable[] = [BOOT_VARIABLES.groupKind, BOOT_VARIABLES.onDemandQueueUrl, BOOT_VARIABLES.onDemandGroup];

// Markers that cannot occur in a script; swapped for `${name}` after the literal text is escaped.
const MARK = "\u0000";

/** A placeholder for a template variable, to embed in script text before {@link toTemplate}. */
export function placeholder(name: BootVariable): string {
  return `${MARK}${name}${MARK}`;
}

/**
 * Turns script text holding {@link placeholder}s into a Terraform template: literal `${` and `%{`
 * become `$${` and `%%{`, and each placeholder becomes `${name}`.
 */
export function toTemplate(script: string): string {
  return terraformLiteral(script).replace(new RegExp(`${MARK}([a-z_]+)${MARK}`, "g"), (_m, name: string) => "${" + name + "}");
}

/**
 * What Terraform's `templatefile()` makes of a template (for the variables and escapes
 * {@link toTemplate} produces): used to check the final script's size and content.
 */
export function fillTemplate(template: string, values: Partial<Record<BootVariable, string>>): string {
  return template.replace(/\$\$\{|%%\{|\$\{([a-z_]+)\}/g, (m, name: string | undefined) => {
    if (m === "$${") return "${";
    if (m === "%%{") return "%{";
    const v = values[name as BootVariable];
    if (v === undefined) throw new Error(`template variable ${name} has no value`);
    return v;
  });
}

/** A PowerShell single-quoted string literal. */
export function psQuote(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** A POSIX shell single-quoted string literal. */
export function shQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** A systemd EnvironmentFile value: double-quoted, with backslashes and quotes escaped. */
export function systemdQuote(value: string): string {
  return `"${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`;
}
