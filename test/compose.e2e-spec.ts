import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadConfig } from '@app/config';

// docker-compose.yml cannot be run here (no Docker engine), so it is read: every service the stack needs is there
// with a pinned image and a health check, api and worker get an environment the service's own config validation
// accepts for the full profile, and every host and port they point at belongs to a service that listens there.

interface Service {
  image?: string;
  build?: unknown;
  command?: unknown;
  environment?: Record<string, string | number>;
  ports?: string[];
  expose?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: unknown };
  profiles?: string[];
  volumes?: string[];
  deploy?: { replicas?: number };
  configs?: { source: string; target: string }[];
}

interface ComposeFile {
  services: Record<string, Service>;
  configs?: Record<string, { content?: string }>;
  volumes?: Record<string, unknown>;
}

/** Compose's interpolation of `${VAR:-default}` with no variables set (and `$$` as a literal `$`). */
function interpolate(value: string): string {
  return value.replace(/\$\{([A-Z0-9_]+)(?::-([^}]*))?\}/g, (_m, _name: string, fallback?: string) => fallback ?? '').replace(/\$\$/g, '$');
}

function envOf(service: Service, variables: Record<string, string> = {}): Record<string, string> {
  // Variables set in the environment replace their ${VAR:-default}; the rest take their defaults.
  const set = (value: string) => value.replace(/\$\{([A-Z0-9_]+)(?::-[^}]*)?\}/g, (m, name: string) => variables[name] ?? m);
  return Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(set(String(v)))]));
}

describe('docker-compose.yml', () => {
  let compose: ComposeFile;

  beforeAll(async () => {
    compose = parse(await readFile(join(__dirname, '..', 'docker-compose.yml'), 'utf8'), { merge: true }) as ComposeFile;
  });

  it('has every service of the full stack, with pinned images and health checks', () => {
    const { services } = compose;
    expect(Object.keys(services).sort()).toEqual(['api', 'clamav', 'gateway', 'minio', 'minio-init', 'postgres', 'redis', 'worker']);
    for (const [name, service] of Object.entries(services)) {
      if (service.image) expect({ name, pinned: !/:latest$|^[^:]+$/.test(service.image) }).toEqual({ name, pinned: true });
      if (name !== 'minio-init') expect({ name, healthcheck: Boolean(service.healthcheck?.test) }).toEqual({ name, healthcheck: true });
      for (const dependency of Object.keys(service.depends_on ?? {})) expect(Object.keys(services)).toContain(dependency);
    }
    // One image for api and worker, built from the Dockerfile.
    expect(services.api!.image).toBe(services.worker!.image);
    expect(services.api!.build).toBeDefined();
    expect(services.api!.deploy?.replicas).toBeGreaterThanOrEqual(2);
    // Only the gateway publishes the API's port; the replicas are reached through it.
    expect(services.api!.ports).toBeUndefined();
    expect(services.gateway!.ports).toEqual(['${API_HOST_PORT:-3000}:80']);
    const conf = compose.configs?.[services.gateway!.configs![0]!.source]?.content ?? '';
    expect(conf).toMatch(/proxy_pass \$\$api;/);
    expect(conf).toMatch(/set \$\$api http:\/\/api:3000;/);
    expect(conf).toMatch(/proxy_request_buffering off;/);
    expect(conf).toMatch(/client_max_body_size 0;/);
  });

  it('gives api and worker an environment the full profile accepts, pointing at the services that listen there', () => {
    const { services } = compose;
    for (const name of ['api', 'worker']) {
      const env = envOf(services[name]!);
      // The service's own validation, as at start: any missing or malformed variable throws, naming it.
      const config = loadConfig(env);
      expect(config.storage.driver).toBe('s3');
      expect(config.database.url).toBeDefined();
      expect(config.queue.redisUrl).toBeDefined();
      expect(env.AUTH_JWT_SECRET).toBeTruthy();
      expect(env.NODE_ENV).toBe('production');
      const database = new URL(env.DATABASE_URL!);
      expect(`${database.hostname}:${database.port}`).toBe('postgres:5432');
      const postgres = envOf(services.postgres!);
      expect(decodeURIComponent(database.username)).toBe(postgres.POSTGRES_USER);
      expect(decodeURIComponent(database.password)).toBe(postgres.POSTGRES_PASSWORD);
      expect(database.pathname).toBe(`/${postgres.POSTGRES_DB}`);
      expect(new URL(env.REDIS_URL!).host).toBe('redis:6379');
      expect(new URL(env.S3_ENDPOINT!).host).toBe('minio:9000');
      const minio = envOf(services.minio!);
      expect(env.S3_ACCESS_KEY_ID).toBe(minio.MINIO_ROOT_USER);
      expect(env.S3_SECRET_ACCESS_KEY).toBe(minio.MINIO_ROOT_PASSWORD);
      expect(env.S3_BUCKET).toBe(envOf(services['minio-init']!).BUCKET);
      // Bucket notifications reach an api replica, with the token the API expects.
      expect(minio.MINIO_NOTIFY_WEBHOOK_ENDPOINT_FILEHUB).toBe('http://api:3000/api/storage-events');
      expect(minio.MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_FILEHUB).toBe(env.STORAGE_EVENTS_TOKEN);
      expect(Object.keys(services[name]!.depends_on ?? {}).sort()).toEqual(['minio-init', 'postgres', 'redis']);
    }
    expect(envOf(services.api!).PORT).toBe('3000');
    expect(services.api!.expose).toEqual(['3000']);
    expect(envOf(services.api!).TRUST_PROXY).toBe('uniquelocal');
    // The worker's health check is its metrics port, which it serves by default.
    expect(loadConfig(envOf(services.worker!)).metrics.workerPort).toBe(9464);
    expect(JSON.stringify(services.worker!.healthcheck!.test)).toContain('127.0.0.1:9464/metrics');
    // The API's health check asks the port the API listens on.
    expect(JSON.stringify(services.api!.healthcheck!.test)).toContain('127.0.0.1:3000/health');
  });

  it('runs clamd only in the scanning profile, and api/worker scan only when CLAMAV_ADDRESS is set', () => {
    const { services } = compose;
    const clamav = services.clamav!;
    expect(clamav.image).toMatch(/^clamav\/clamav:\d+\.\d+\.\d+$/);
    expect(clamav.profiles).toEqual(['scanning']);
    expect(clamav.expose).toEqual(['3310']);
    // Every other service starts without a profile; none waits for the optional scanner.
    for (const [name, service] of Object.entries(services)) {
      if (name !== 'clamav') expect({ name, profiles: service.profiles }).toEqual({ name, profiles: undefined });
      expect(Object.keys(service.depends_on ?? {})).not.toContain('clamav');
    }
    for (const name of ['api', 'worker']) {
      // Default: the variable is empty, and an empty address means no scanning.
      expect(loadConfig(envOf(services[name]!)).scanning.clamavAddress).toBeUndefined();
      // Set as the file's header says: the clamav service's port.
      const on = loadConfig(envOf(services[name]!, { CLAMAV_ADDRESS: 'tcp://clamav:3310' }));
      expect(on.scanning.clamavAddress).toBe('tcp://clamav:3310');
    }
  });

  it('declares every named volume it mounts', () => {
    const declared = Object.keys(compose.volumes ?? {});
    for (const [name, service] of Object.entries(compose.services)) {
      for (const mount of ((service as { volumes?: string[] }).volumes ?? []).map((v) => v.split(':')[0]!)) {
        if (!mount.startsWith('.') && !mount.startsWith('/')) expect({ name, mount, declared: declared.includes(mount) }).toEqual({ name, mount, declared: true });
      }
    }
  });
});
