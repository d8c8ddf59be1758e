import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ApiGatewayApiKey } from "@cdktf/provider-aws/lib/api-gateway-api-key";
import { ApiGatewayDeployment } from "@cdktf/provider-aws/lib/api-gateway-deployment";
import { ApiGatewayIntegration } from "@cdktf/provider-aws/lib/api-gateway-integration";
import { ApiGatewayMethod } from "@cdktf/provider-aws/lib/api-gateway-method";
import { ApiGatewayMethodSettings } from "@cdktf/provider-aws/lib/api-gateway-method-settings";
import { ApiGatewayResource } from "@cdktf/provider-aws/lib/api-gateway-resource";
import { ApiGatewayRestApi } from "@cdktf/provider-aws/lib/api-gateway-rest-api";
import { ApiGatewayStage } from "@cdktf/provider-aws/lib/api-gateway-stage";
import { ApiGatewayUsagePlan } from "@cdktf/provider-aws/lib/api-gateway-usage-plan";
import { ApiGatewayUsagePlanKey } from "@cdktf/provider-aws/lib/api-gateway-usage-plan-key";
import { CloudwatchLogGroup } from "@cdktf/provider-aws/lib/cloudwatch-log-group";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import { LambdaFunction } from "@cdktf/provider-aws/lib/lambda-function";
import { LambdaPermission } from "@cdktf/provider-aws/lib/lambda-permission";
import { Construct } from "constructs";
import { ValidationError } from "../../core/errors.ts";
import { withoutApiKeys, type FleetConfig } from "../../core/fleet-config.ts";
import { ENV } from "../../core/runtime.ts";
import { BUNDLE_FILES, LAMBDA_HANDLER } from "../bundling.ts";
import { AssetType, Fn, TerraformAsset } from "../cdktf.ts";
import { apiConsolePolicy, apiPolicy } from "./api-policy.ts";
import { assumeRolePolicy, policyJson } from "./policy-document.ts";
import type { ApiBundleProps } from "./refs.ts";
import { apiBundleVariables } from "./api-bundle.ts";

/** The stage the API is deployed to; part of the API URL. */
export const API_STAGE = "v1";

/** Lambda's limit on the whole environment (keys and values). */
const LAMBDA_ENV_LIMIT_BYTES = 4096;
/** Room kept in that limit for the resource names, which are only known at apply time. */
const NAMES_ALLOWANCE_BYTES = 900;

/** The routes the one Lambda serves (API Gateway REST proxy events). */
export const API_ROUTES = [
  { path: "jobs", method: "POST" },
  { path: "jobs", method: "GET" },
  { path: "jobs/{id}", method: "GET" },
  { path: "jobs/{id}", method: "DELETE" },
  // The web console's reads and its redrive (api/console/routes.ts).
  { path: "jobs/{id}/logs", method: "GET" },
  { path: "jobs/{id}/redrive", method: "POST" },
  { path: "fleet", method: "GET" },
] as const;

/**
 * The web console's page and its scripts and styles: open, without a key or a signature, since a
 * browser cannot send one when it opens a page. They hold no data: every call the page makes goes
 * to the routes above, with the key.
 */
export const CONSOLE_PAGE_ROUTES = [
  { path: "console", method: "GET" },
  { path: "console/{proxy+}", method: "GET" },
] as const;

/** The bundle exports `handler`; the fast path raises the group's desired capacity when `scaling.fastPath` is on. */
export type ApiProps = ApiBundleProps;

/**
 * The config the API Lambda gets in its environment: the deployment's, without the tenants' API
 * key values (API Gateway checks those; the Lambda maps the key *id* it is handed to a tenant
 * through `SPOTQ_TENANT_KEY_IDS`), so no key value sits in the function's configuration.
 */
export function lambdaConfig(config: FleetConfig): FleetConfig {
  return withoutApiKeys(config);
}

/**
 * The REST API: API Gateway (regional) in front of one Lambda serving every route, authenticated
 * by default (API keys under a usage plan with throttling and a daily quota, or IAM/SigV4 as
 * `api.auth` chooses), with a stage-wide throttle in both modes. With `api.tenants` and API keys,
 * each tenant gets a key and a usage plan of its own (no default key), and the Lambda gets the
 * key id → tenant map; with IAM, the config's `principals` map callers to tenants. The Lambda runs
 * with a role that can do only what the API does, and logs to a group with retention.
 */
export class Api extends Construct {
  readonly function: LambdaFunction;
  readonly role: IamRole;
  readonly rolePolicy: IamRolePolicy;
  /** The web console's reads: job logs, alarm states, queue metrics, the group. */
  readonly consolePolicy: IamRolePolicy;
  readonly logGroup: CloudwatchLogGroup;
  readonly restApi: ApiGatewayRestApi;
  readonly stage: ApiGatewayStage;
  readonly methods: ApiGatewayMethod[] = [];
  /** The API key callers send as `x-api-key`; absent with IAM auth and with tenants. */
  readonly apiKey?: ApiGatewayApiKey;
  readonly usagePlan?: ApiGatewayUsagePlan;
  /** Each tenant's own key and usage plan, by tenant name (API key auth with `api.tenants`). */
  readonly tenantKeys: Record<string, { key: ApiGatewayApiKey; usagePlan: ApiGatewayUsagePlan }> = {};
  /** The stage's invoke URL (`https://…/v1`); routes are under `/jobs`. */
  readonly url: string;
  /** The Lambda's and the REST API's names, known at synth time (for dashboards and alarms). */
  readonly functionName: string;
  readonly apiName: string;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    const { config, env } = props;
    const functionName = `${config.name}-api`;
    this.functionName = functionName;
    this.apiName = `${config.name}-api`;
    const bundleFile = join(props.lambdaBundleDir, BUNDLE_FILES.lambda);
    if (!existsSync(bundleFile))
      throw new ValidationError("cannot package the API Lambda", [
        { field: "lambdaBundleDir", reason: `${props.lambdaBundleDir} holds no ${BUNDLE_FILES.lambda}: bundle api/lambda.ts first (infra/bundling.ts)` },
      ]);

    this.logGroup = new CloudwatchLogGroup(this, "logs", {
      name: `/aws/lambda/${functionName}`,
      retentionInDays: config.monitoring.logRetentionDays,
    });
    this.role = new IamRole(this, "role", {
      name: functionName,
      description: `spotq/${config.name}: the API Lambda`,
      assumeRolePolicy: policyJson(assumeRolePolicy("lambda.amazonaws.com", env.accountId)),
    });
    const fastPathGroup = config.scaling.fastPath ? props.group : undefined;
    this.rolePolicy = new IamRolePolicy(this, "role-policy", {
      name: "spotq-api",
      role: this.role.id,
      policy: policyJson(
        apiPolicy({
          table: props.table,
          jobsQueue: props.queues.jobs,
          ...(props.queues.high ? { highQueue: props.queues.high } : {}),
          dataBucket: props.dataBucket,
          sourcePrefixes: config.storage.sourcePrefixes,
          ...(fastPathGroup ? { group: fastPathGroup } : {}),
          logGroup: { name: this.logGroup.name, arn: this.logGroup.arn },
        }),
      ),
    });

    this.consolePolicy = new IamRolePolicy(this, "console-policy", {
      name: "spotq-api-console",
      role: this.role.id,
      policy: policyJson(apiConsolePolicy({ env, deployment: config.name })),
    });

    const iam = config.api.auth === "iam";
    const keyedTenants = iam ? [] : config.api.tenants;
    const configJson = JSON.stringify(lambdaConfig(config));
    // The key id map: `{"<10-character id>":"<tenant>"}` per tenant, known once the keys exist.
    const tenantMapBytes = keyedTenants.reduce((n, t) => n + 16 + t.name.length, 2);
    if (Buffer.byteLength(configJson) + tenantMapBytes + NAMES_ALLOWANCE_BYTES > LAMBDA_ENV_LIMIT_BYTES)
      throw new ValidationError("the fleet config does not fit the API Lambda's environment", [
        {
          field: "(fleet config)",
          reason: `is ${Buffer.byteLength(configJson)} bytes as JSON${tenantMapBytes > 2 ? ` (plus ${tenantMapBytes} for the tenants' key ids)` : ""}; Lambda allows ${LAMBDA_ENV_LIMIT_BYTES} bytes of environment in all, and about ${NAMES_ALLOWANCE_BYTES} go to resource names: shorten processor.env, jobs.extraOptions, the prefix lists or api.tenants`,
        },
      ]);
    // One key per tenant (its value from the config, or generated by API Gateway when absent).
    const tenantApiKeys = keyedTenants.map(
      (t) =>
        [
          t,
          new ApiGatewayApiKey(this, `tenant-key-${t.name}`, {
            name: `${config.name}-${t.name}`,
            description: `spotq/${config.name}: tenant ${t.name}`,
            enabled: true,
            ...(t.apiKey !== undefined ? { value: t.apiKey } : {}),
          }),
        ] as const,
    );
    const code = new TerraformAsset(this, "code", { path: props.lambdaBundleDir, type: AssetType.ARCHIVE });
    this.function = new LambdaFunction(this, "function", {
      functionName,
      description: `spotq/${config.name}: submit, list, get and cancel jobs`,
      role: this.role.arn,
      runtime: config.api.lambdaRuntime,
      architectures: ["arm64"],
      handler: LAMBDA_HANDLER,
      filename: code.path,
      sourceCodeHash: Fn.filebase64sha256(code.path),
      memorySize: 512,
      // API Gateway gives up on an integration after 29 s.
      timeout: 29,
      environment: {
        variables: {
          ...apiBundleVariables(props, configJson),
          // Without a group the API skips the fast path (core/runtime.ts).
          ...(fastPathGroup ? { [ENV.group]: fastPathGroup.name } : {}),
          // Key id → tenant, so the Lambda needs no key value (api/tenancy.ts).
          ...(tenantApiKeys.length
            ? { [ENV.tenantKeyIds]: Fn.jsonencode(Fn.zipmap(tenantApiKeys.map(([, k]) => k.id), tenantApiKeys.map(([t]) => t.name))) }
            : {}),
        },
      },
      loggingConfig: { logFormat: "Text", logGroup: this.logGroup.name },
      // Lambda would create the log group itself (without retention) if it ran first; and it
      // must not run before its permissions exist.
      dependsOn: [this.logGroup, this.rolePolicy, this.consolePolicy],
    });

    this.restApi = new ApiGatewayRestApi(this, "rest-api", {
      name: this.apiName,
      description: `spotq/${config.name}: the jobs API`,
      endpointConfiguration: { types: ["REGIONAL"] },
      apiKeySource: "HEADER",
    });
    const jobs = new ApiGatewayResource(this, "jobs-resource", {
      restApiId: this.restApi.id,
      parentId: this.restApi.rootResourceId,
      pathPart: "jobs",
    });
    const job = new ApiGatewayResource(this, "job-resource", { restApiId: this.restApi.id, parentId: jobs.id, pathPart: "{id}" });
    const resources: Record<string, ApiGatewayResource> = { jobs, "jobs/{id}": job };
    // The console's resources under those (and the root), created from their paths.
    const resource = (path: string): ApiGatewayResource => {
      const existing = resources[path];
      if (existing) return existing;
      const slash = path.lastIndexOf("/");
      const made = new ApiGatewayResource(this, `${path.replace(/[{}+]/g, "").replaceAll("/", "-")}-resource`, {
        restApiId: this.restApi.id,
        parentId: slash < 0 ? this.restApi.rootResourceId : resource(path.slice(0, slash)).id,
        pathPart: path.slice(slash + 1),
      });
      resources[path] = made;
      return made;
    };
    const integrations: ApiGatewayIntegration[] = [];
    const open = new Set<string>(CONSOLE_PAGE_ROUTES.map((r) => r.path));
    for (const route of [...API_ROUTES, ...CONSOLE_PAGE_ROUTES]) {
      const key = `${route.method.toLowerCase()}-${route.path.replace(/[{}+]/g, "").replaceAll("/", "-")}`;
      const pathParams = [...route.path.matchAll(/\{(\w+)\+?\}/g)].map((m) => m[1]!);
      const method = new ApiGatewayMethod(this, `${key}-method`, {
        restApiId: this.restApi.id,
        resourceId: resource(route.path).id,
        httpMethod: route.method,
        authorization: iam && !open.has(route.path) ? "AWS_IAM" : "NONE",
        apiKeyRequired: !iam && !open.has(route.path),
        ...(pathParams.length ? { requestParameters: Object.fromEntries(pathParams.map((p) => [`method.request.path.${p}`, true])) } : {}),
      });
      this.methods.push(method);
      integrations.push(
        new ApiGatewayIntegration(this, `${key}-integration`, {
          restApiId: this.restApi.id,
          resourceId: resource(route.path).id,
          httpMethod: method.httpMethod,
          type: "AWS_PROXY",
          // Lambda proxy integrations are always invoked with POST, whatever the route's method.
          integrationHttpMethod: "POST",
          uri: this.function.invokeArn,
        }),
      );
    }
    new LambdaPermission(this, "invoke-permission", {
      statementId: "AllowApiGatewayInvoke",
      action: "lambda:InvokeFunction",
      functionName: this.function.functionName,
      principal: "apigateway.amazonaws.com",
      // Any stage, method and path of this API, and nothing else.
      sourceArn: `${this.restApi.executionArn}/*/*/*`,
    });
    const deployment = new ApiGatewayDeployment(this, "deployment", {
      restApiId: this.restApi.id,
      // A new deployment whenever the routes or their authentication change.
      triggers: { redeployment: createHash("sha256").update(JSON.stringify({ routes: API_ROUTES, auth: config.api.auth, console: CONSOLE_PAGE_ROUTES })).digest("hex") },
      lifecycle: { createBeforeDestroy: true },
      dependsOn: [...this.methods, ...integrations],
    });
    this.stage = new ApiGatewayStage(this, "stage", {
      restApiId: this.restApi.id,
      deploymentId: deployment.id,
      stageName: API_STAGE,
    });
    new ApiGatewayMethodSettings(this, "stage-throttle", {
      restApiId: this.restApi.id,
      stageName: this.stage.stageName,
      methodPath: "*/*",
      settings: { throttlingRateLimit: config.api.throttleRateLimit, throttlingBurstLimit: config.api.throttleBurstLimit },
    });
    const apiStages = [{ apiId: this.restApi.id, stage: this.stage.stageName }];
    for (const [t, key] of tenantApiKeys) {
      const usagePlan = new ApiGatewayUsagePlan(this, `tenant-plan-${t.name}`, {
        name: `${config.name}-${t.name}`,
        description: `spotq/${config.name}: tenant ${t.name}`,
        apiStages,
        throttleSettings: { rateLimit: t.throttleRateLimit ?? config.api.throttleRateLimit, burstLimit: t.throttleBurstLimit ?? config.api.throttleBurstLimit },
        quotaSettings: { limit: t.quotaPerDay ?? config.api.quotaPerDay, period: "DAY" },
      });
      new ApiGatewayUsagePlanKey(this, `tenant-plan-key-${t.name}`, { keyId: key.id, keyType: "API_KEY", usagePlanId: usagePlan.id });
      this.tenantKeys[t.name] = { key, usagePlan };
    }
    if (!iam && keyedTenants.length === 0) {
      this.apiKey = new ApiGatewayApiKey(this, "key", { name: `${config.name}-default`, description: `spotq/${config.name}: the default caller`, enabled: true });
      this.usagePlan = new ApiGatewayUsagePlan(this, "usage-plan", {
        name: `${config.name}-default`,
        apiStages,
        throttleSettings: { rateLimit: config.api.throttleRateLimit, burstLimit: config.api.throttleBurstLimit },
        quotaSettings: { limit: config.api.quotaPerDay, period: "DAY" },
      });
      new ApiGatewayUsagePlanKey(this, "usage-plan-key", { keyId: this.apiKey.id, keyType: "API_KEY", usagePlanId: this.usagePlan.id });
    }
    this.url = this.stage.invokeUrl;
  }
}
