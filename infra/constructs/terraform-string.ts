/**
 * Terraform reads every string in its JSON configuration as a template: `${…}` interpolates and
 * `%{…}` is a directive. cdktf leaves literal text alone, so text that is not ours to control
 * (the fleet config a user wrote) must have both escaped before it becomes an argument.
 */
export function terraformLiteral(text: string): string {
  // Replacement functions, not strings: in a replacement string "$$" means a single "$".
  return text.replaceAll("${", () => "$${").replaceAll("%{", () => "%%{");
}
