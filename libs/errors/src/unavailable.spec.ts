import { unavailableDependency } from './unavailable';

// The shapes seen in the chaos suite (database restarted, MinIO stopped or cut), and errors that must stay 4xx/500.
describe('unavailableDependency', () => {
  it('recognises the database down: Prisma codes, driver-adapter kinds, PostgreSQL SQLSTATEs, node-postgres messages', () => {
    expect(unavailableDependency({ name: 'PrismaClientKnownRequestError', code: 'P1001', message: "Can't reach database server" })).toBe('database');
    expect(unavailableDependency({ name: 'PrismaClientKnownRequestError', code: 'P2010', meta: { driverAdapterError: { cause: { kind: 'DatabaseNotReachable' } } } })).toBe('database');
    expect(unavailableDependency({ name: 'PrismaClientKnownRequestError', code: 'P2010', meta: { driverAdapterError: { cause: { kind: 'postgres', code: '57P01' } } } })).toBe('database');
    expect(unavailableDependency(Object.assign(new Error('ConnectionClosed'), { name: 'DriverAdapterError', cause: { kind: 'ConnectionClosed' } }))).toBe('database');
    expect(unavailableDependency(new Error('Query read timeout'))).toBe('database');
    expect(unavailableDependency(new Error('Client has encountered a connection error and is not queryable'))).toBe('database');
    // A new connection that did not open within the client's own connect timeout (the pool's queue waits longer).
    expect(unavailableDependency(new Error('timeout expired'))).toBe('database');
    expect(unavailableDependency({ name: 'error', code: '57P03', severity: 'FATAL', message: 'the database system is starting up' })).toBe('database');
  });

  it('recognises storage down: AWS SDK errors with no answer or a 5xx, and wrapped causes', () => {
    expect(unavailableDependency(Object.assign(new Error('socket hang up'), { name: 'TimeoutError', $metadata: {} }))).toBe('storage');
    expect(unavailableDependency(Object.assign(new Error('Server not initialized'), { name: 'XMinioServerNotInitialized', $metadata: { httpStatusCode: 503 } }))).toBe('storage');
    expect(unavailableDependency(new Error('upload failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED', $metadata: {} }) }))).toBe('storage');
    // A store that stopped answering without closing its connections (libs/storage's stall guard).
    expect(unavailableDependency(Object.assign(new Error('Storage made no progress for 1000 ms'), { name: 'StorageStalledError' }))).toBe('storage');
  });

  it('recognises the virus scanner down: a refused connection, a silence or an ERROR reply', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(unavailableDependency(Object.assign(new Error('Cannot reach clamd at tcp://127.0.0.1:3310', { cause: refused }), { name: 'ScannerUnavailableError' }))).toBe('virus scanner');
    expect(unavailableDependency(Object.assign(new Error('clamd at tcp://127.0.0.1:3310 did not answer within 200 ms'), { name: 'ScannerUnavailableError' }))).toBe('virus scanner');
  });

  it('leaves other errors alone', () => {
    expect(unavailableDependency(Object.assign(new Error('NoSuchKey'), { name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } }))).toBeUndefined();
    expect(unavailableDependency({ name: 'PrismaClientKnownRequestError', code: 'P2002', message: 'Unique constraint failed' })).toBeUndefined();
    expect(unavailableDependency(new Error('Cannot read properties of undefined'))).toBeUndefined();
    expect(unavailableDependency(undefined)).toBeUndefined();
  });
});
