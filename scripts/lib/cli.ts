/** The one way a kubemu command-line script ends. */

/** A failure to report as is (no stack trace), with the process's exit code. */
export interface UserFacingError {
  message: string;
  exitCode: number;
}

/**
 * Runs `main(argv)` and exits with its code. An error that `isUserFacing` accepts prints its
 * message alone and exits with its exitCode; anything else prints the stack, prefixed by `name`,
 * and exits 1.
 */
export function runCli(name: string, main: (argv: string[]) => Promise<number>, isUserFacing: (err: unknown) => err is UserFacingError): void {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      if (isUserFacing(err)) {
        process.stderr.write(err.message + '\n');
        process.exit(err.exitCode);
      }
      process.stderr.write(`${name}: ${(err as Error)?.stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
