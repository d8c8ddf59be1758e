/** A CLI failure: one clear line, and the fix. */
export class CliError extends Error {
  readonly fix: string | undefined;
  readonly exitCode: number;
  constructor(message: string, fix?: string, exitCode = 1) {
    super(message);
    this.name = "CliError";
    this.fix = fix;
    this.exitCode = exitCode;
  }
}
