import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { TokenService, ROLES, type Role } from '@app/auth';
import { ConfigError, loadConfig } from '@app/config';

// npm run token -- --sub u1 --org o1 [--role service] [--expires 3600]
function main(): void {
  const { values } = parseArgs({
    options: {
      sub: { type: 'string', default: 'dev-user' },
      org: { type: 'string' },
      role: { type: 'string', default: 'user' },
      expires: { type: 'string', default: '86400' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write('Usage: npm run token -- --sub <user id> [--org <organization id>] [--role user|service|admin] [--expires <seconds>]\n');
    return;
  }
  if (!ROLES.includes(values.role as Role)) throw new ConfigError(`--role must be one of ${ROLES.join(', ')}`);
  const expires = Number(values.expires);
  if (!Number.isInteger(expires) || expires <= 0) throw new ConfigError('--expires must be a positive number of seconds');
  const tokens = new TokenService(loadConfig());
  process.stdout.write(`${tokens.sign({ sub: values.sub!, org: values.org, role: values.role as Role }, expires)}\n`);
}

try {
  main();
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exit(1);
}
