/**
 * The one place infra imports the CDK for Terraform core from.
 *
 * HashiCorp archived CDKTF (0.21 is its last release); `cdktn` is the community fork with the
 * same API. Moving to it means changing the module name here, not in every construct and test.
 */
export { App, AssetType, Fn, S3Backend, TerraformAsset, TerraformOutput, TerraformStack, Testing, testingMatchers, Token } from "cdktf";
