/**
 * The container image of `processor.container.image`: an Amazon ECR repository, given either by
 * its name (a repository this deployment creates, in its own account and region) or by its URI
 * (an existing repository: `<account>.dkr.ecr.<region>.amazonaws.com/<name>`), with an optional
 * `:tag` (default `latest`) or `@sha256:<digest>`. Pure parsing, no SDK.
 */

/** ECR's rule for repository names: lowercase path components joined by `/`, each of letters and digits with single `.`, `_` or `-` between. */
const REPOSITORY = /^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
/** A private ECR registry host: `<account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]`. */
const ECR_HOST = /^(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d)\.amazonaws\.com(\.cn)?$/;

/** The tag a reference without one pulls, as Docker does. */
export const DEFAULT_IMAGE_TAG = "latest";

export interface ImageReference {
  /** The repository name (`medit/iscan`). */
  repository: string;
  /** Present when the config named an existing repository by URI. */
  registry?: { host: string; accountId: string; region: string };
  /** Exactly one of `tag` and `digest` is set; a reference without either gets {@link DEFAULT_IMAGE_TAG}. */
  tag?: string;
  digest?: string;
}

/** Parses an image reference, or says what is wrong with it (a sentence that completes "processor.container.image ..."). */
export function parseImageReference(text: string): { ok: true; value: ImageReference } | { ok: false; reason: string } {
  const example = 'must be an Amazon ECR repository name ("medit-iscan", "team/medit:v3") or URI ("111122223333.dkr.ecr.us-east-1.amazonaws.com/medit-iscan:v3")';
  if (text.trim() !== text || text === "") return { ok: false, reason: `${example}, got ${JSON.stringify(text)}` };
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) return { ok: false, reason: `has the digest "${digest}", which is not sha256:<64 lowercase hex digits>` };
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (digest) return { ok: false, reason: "has both a tag and a digest; give one of them" };
    if (!TAG.test(tag)) return { ok: false, reason: `has the tag "${tag}": a tag is 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'` };
  }
  let registry: ImageReference["registry"];
  const slash = rest.indexOf("/");
  const first = slash >= 0 ? rest.slice(0, slash) : "";
  // Docker's rule: a first component with a dot or a port is a registry host.
  if (slash >= 0 && /[.:]/.test(first)) {
    const m = ECR_HOST.exec(first);
    if (!m)
      return {
        ok: false,
        reason: `names the registry "${first}", which is not a private Amazon ECR registry (<account>.dkr.ecr.<region>.amazonaws.com): the workers pull with their instance role from ECR only`,
      };
    registry = { host: first, accountId: m[1]!, region: m[2]! };
    rest = rest.slice(slash + 1);
  }
  if (rest.length < 2 || rest.length > 256 || !REPOSITORY.test(rest))
    return {
      ok: false,
      reason: `${example}; "${rest}" is not a repository name (2 to 256 lowercase letters, digits and single '.', '_', '-' or '/' between them)`,
    };
  return { ok: true, value: { repository: rest, ...(registry ? { registry } : {}), ...(digest ? { digest } : { tag: tag ?? DEFAULT_IMAGE_TAG }) } };
}

/** The full reference Docker pulls: `<registry host>/<repository>:<tag>` or `@<digest>`. */
export function imageUri(ref: ImageReference, registryHost: string): string {
  return `${registryHost}/${ref.repository}${ref.digest ? `@${ref.digest}` : `:${ref.tag ?? DEFAULT_IMAGE_TAG}`}`;
}

/** The host of an ECR registry endpoint as GetAuthorizationToken gives it (`https://<host>`). */
export function registryHostOf(proxyEndpoint: string): string {
  return proxyEndpoint.replace(/^https?:\/\//, "").replace(/\/+$/, "");
}
