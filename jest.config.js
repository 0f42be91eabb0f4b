// Jest runs TypeScript through SWC. NestJS 12, Apollo and a few other dependencies ship as ES modules;
// SWC turns them into CommonJS for Jest's module registry, as Node's require(esm) does at run time.
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
      keepClassNames: true,
    },
    module: { type: 'commonjs' },
  },
];

// On Node 20 the AWS SDK prints a notice (its releases after January 2027 need Node 22) once per process: in
// every worker and child process the suites start. The lockfile pins the SDK, so the notice says nothing about
// the code under test; silenced here (and inherited by the processes tests spawn), not in the service.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const moduleNameMapper = {
  // The generated Prisma client imports its siblings with .js extensions (NodeNext style).
  '^(\\.{1,2}/.*)\\.js$': '$1',
  '^@app/([a-z-]+)$': '<rootDir>/libs/$1/src',
  '^@app/([a-z-]+)/(.*)$': '<rootDir>/libs/$1/src/$2',
};

const common = {
  testEnvironment: 'node',
  rootDir: __dirname,
  transform: { '^.+\\.(t|j|mj|cj)s$': swc },
  transformIgnorePatterns: ['/node_modules/(?!(@nestjs|@apollo|graphql-upload|file-type|strtok3|token-types|peek-readable|@tokenizer|uint8array-extras|@borewit|fs-capacitor|jose|@tus|srvx)/)'],
  moduleNameMapper,
};

module.exports = {
  testTimeout: 60000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/libs/**/*.spec.ts', '<rootDir>/apps/**/*.spec.ts', '<rootDir>/scripts/**/*.spec.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/**/*.e2e-spec.ts'] },
    // Fault injection (npm run test:chaos): each suite starts its own PostgreSQL, Redis and MinIO. Not in npm test.
    { ...common, displayName: 'chaos', testMatch: ['<rootDir>/test/chaos/**/*.chaos-spec.ts'] },
  ],
};
