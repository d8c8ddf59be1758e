import { ECRClient, GetAuthorizationTokenCommand } from "@aws-sdk/client-ecr";

/** What `docker login` needs for one ECR registry: a user, a password valid until `expiresAt`, and the registry. */
export interface RegistryCredentials {
  username: string;
  password: string;
  /** The caller's own registry in that region (`https://<account>.dkr.ecr.<region>.amazonaws.com`). */
  proxyEndpoint: string;
  expiresAt: Date;
}

/** Credentials for the ECR registries of a region (the SDK's `aws ecr get-login-password`). */
export interface RegistryAuth {
  credentials(region: string): Promise<RegistryCredentials>;
}

/** The environment variable that points the ECR client at a local endpoint (tests), as `SPOTQ_ENDPOINT_<SERVICE>` does for the others. */
export const ECR_ENDPOINT_VAR = "SPOTQ_ENDPOINT_ECR";

/**
 * ECR's GetAuthorizationToken with the instance role (SDK v3). The token is the base64 of
 * `AWS:<password>`, valid for 12 hours, and works for every repository the role may pull from
 * in that region; which repository that is, IAM decides (infra grants the fleet's own only).
 */
export class EcrRegistryAuth implements RegistryAuth {
  readonly #endpoint: string | undefined;
  readonly #clients = new Map<string, ECRClient>();

  constructor(o: { endpoint?: string } = {}) {
    this.#endpoint = o.endpoint;
  }

  /** From the environment: `SPOTQ_ENDPOINT_ECR` (a local endpoint, with dummy credentials unless real ones are set). */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): EcrRegistryAuth {
    return new EcrRegistryAuth(env[ECR_ENDPOINT_VAR] ? { endpoint: env[ECR_ENDPOINT_VAR] } : {});
  }

  async credentials(region: string): Promise<RegistryCredentials> {
    let out;
    try {
      out = await this.#client(region).send(new GetAuthorizationTokenCommand({}));
    } catch (err) {
      throw new Error(`ECR GetAuthorizationToken in ${region} failed: ${(err as Error).message}`, { cause: err });
    }
    const data = out.authorizationData?.[0];
    if (!data?.authorizationToken || !data.proxyEndpoint) throw new Error(`ECR GetAuthorizationToken in ${region} returned no token`);
    const decoded = Buffer.from(data.authorizationToken, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon <= 0) throw new Error(`ECR GetAuthorizationToken in ${region} returned a token that is not "user:password"`);
    return {
      username: decoded.slice(0, colon),
      password: decoded.slice(colon + 1),
      proxyEndpoint: data.proxyEndpoint,
      // ECR documents 12 hours; without a date, assume less.
      expiresAt: data.expiresAt ?? new Date(Date.now() + 6 * 3600_000),
    };
  }

  /** Closes the clients' sockets. */
  destroy(): void {
    for (const c of this.#clients.values()) c.destroy();
    this.#clients.clear();
  }

  #client(region: string): ECRClient {
    let c = this.#clients.get(region);
    if (!c) {
      const local = Boolean(this.#endpoint);
      c = new ECRClient({
        region,
        ...(this.#endpoint ? { endpoint: this.#endpoint } : {}),
        ...(local && !process.env.AWS_ACCESS_KEY_ID ? { credentials: { accessKeyId: "local", secretAccessKey: "local" } } : {}),
        maxAttempts: 4,
      });
      this.#clients.set(region, c);
    }
    return c;
  }
}
