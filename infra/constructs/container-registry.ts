import { EcrLifecyclePolicy } from "@cdktf/provider-aws/lib/ecr-lifecycle-policy";
import { EcrRepository } from "@cdktf/provider-aws/lib/ecr-repository";
import { Construct } from "constructs";
import { parseImageReference, type ImageReference } from "../../core/container-image.ts";
import { ValidationError } from "../../core/errors.ts";
import type { ContainerProfile } from "../../core/fleet-config.ts";
import { partitionOf, type AwsEnv } from "./refs.ts";

/** Untagged images (a tag moved to a newer push) go after this many days. */
export const UNTAGGED_IMAGE_DAYS = 7;

/** Images a created repository keeps when `processor.container.keepImages` is not set. */
export const DEFAULT_KEEP_IMAGES = 30;

export interface ContainerRegistryProps {
  profile: ContainerProfile;
  env: AwsEnv;
  /** The deployment's name, for the tags. */
  deployment: string;
}

/**
 * The image repository of the container profile (issue 10 §6). An image given by repository name
 * gets an ECR repository of that name in the deployment's account and region: scanned on push,
 * encrypted, not force-deleted (a destroy keeps your images unless you empty it), with a lifecycle
 * policy that never expires the fleet's tag, expires untagged images after
 * {@link UNTAGGED_IMAGE_DAYS} days and keeps `keepImages` images. An image given by URI names an
 * existing repository, which is referenced, not managed.
 */
export class ContainerRegistry extends Construct {
  readonly reference: ImageReference;
  /** The repository's ARN (a Terraform reference for a created one). */
  readonly repositoryArn: string;
  readonly repositoryName: string;
  /** `<registry>/<name>`, where images are pushed (a Terraform reference for a created one). */
  readonly repositoryUrl: string;
  /** Present when this deployment creates the repository. */
  readonly repository?: EcrRepository;
  readonly lifecyclePolicy?: EcrLifecyclePolicy;

  constructor(scope: Construct, id: string, props: ContainerRegistryProps) {
    super(scope, id);
    const parsed = parseImageReference(props.profile.image);
    if (!parsed.ok) throw new ValidationError("cannot set up the container registry", [{ field: "processor.container.image", reason: parsed.reason }]);
    const ref = (this.reference = parsed.value);
    this.repositoryName = ref.repository;
    if (ref.registry) {
      const r = ref.registry;
      this.repositoryArn = `arn:${partitionOf(r.region)}:ecr:${r.region}:${r.accountId}:repository/${ref.repository}`;
      this.repositoryUrl = `${r.host}/${ref.repository}`;
      return;
    }
    this.repository = new EcrRepository(this, "repository", {
      name: ref.repository,
      imageTagMutability: "MUTABLE",
      imageScanningConfiguration: { scanOnPush: true },
      encryptionConfiguration: [{ encryptionType: "AES256" }],
      forceDelete: false,
      tags: { "spotq:deployment": props.deployment },
    });
    this.lifecyclePolicy = new EcrLifecyclePolicy(this, "lifecycle", {
      repository: this.repository.name,
      policy: JSON.stringify(lifecyclePolicy(ref, props.profile.keepImages ?? DEFAULT_KEEP_IMAGES)),
    });
    this.repositoryArn = this.repository.arn;
    this.repositoryUrl = this.repository.repositoryUrl;
  }
}

/**
 * The repository's lifecycle rules, in priority order. An image matched by a higher-priority rule
 * is never expired by a lower one (ECR's evaluation rules), so the first rule, which selects the
 * fleet's tag and would only expire beyond 9999 images, keeps it from the count rule.
 */
export function lifecyclePolicy(ref: ImageReference, keepImages: number): { rules: Record<string, unknown>[] } {
  const rules: Record<string, unknown>[] = [];
  if (ref.tag)
    rules.push({
      description: `the fleet's tag ${ref.tag} is never expired by the rules below`,
      selection: { tagStatus: "tagged", tagPatternList: [ref.tag], countType: "imageCountMoreThan", countNumber: 9999 },
      action: { type: "expire" },
    });
  rules.push(
    {
      description: `untagged images go after ${UNTAGGED_IMAGE_DAYS} days`,
      selection: { tagStatus: "untagged", countType: "sinceImagePushed", countUnit: "days", countNumber: UNTAGGED_IMAGE_DAYS },
      action: { type: "expire" },
    },
    {
      description: `keep the newest ${keepImages} images`,
      selection: { tagStatus: "any", countType: "imageCountMoreThan", countNumber: keepImages },
      action: { type: "expire" },
    },
  );
  return { rules: rules.map((r, i) => ({ rulePriority: i + 1, ...r })) };
}
