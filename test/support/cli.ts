import { spawn } from 'node:child_process';
import { join } from 'node:path';

/** The built CLI (apps/cli), run as users run it. */
export const CLI = join(__dirname, '..', '..', 'dist', 'apps', 'cli', 'src', 'main.js');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI with `args` and `env` (on top of this process's), through pipes, or with `tty` under a pseudo-terminal
 * (util-linux `script`, which returns the CLI's exit code) where it draws progress bars. `columns`: the terminal
 * width it lays tables out for.
 */
export function runCli(args: string[], env: Record<string, string>, options: { tty?: boolean; columns?: number } = {}): Promise<CliRun> {
  const quoted = [process.execPath, CLI, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const [command, argv] = options.tty ? ['script', ['-q', '-e', '-c', quoted, '/dev/null']] : [process.execPath, [CLI, ...args]];
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { env: { ...process.env, ...env, COLUMNS: String(options.columns ?? 120) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
