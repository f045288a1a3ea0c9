import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AssertionError } from '../assert';
import { temporaryDirectory, type TemporaryDirectory } from '../testing';
import { migrateSqlite } from './migrate-sqlite';
import { MigrationError, type Migration } from './migrations';
import { folderOpenToOthersWarning, openSqlite } from './sqlite';

const migrations: Migration[] = [
  { version: 1, name: 'accounts', sqlite: 'CREATE TABLE accounts (id TEXT PRIMARY KEY, balance INTEGER NOT NULL);', postgres: 'unused' },
  {
    version: 2,
    name: 'entries',
    sqlite: `CREATE TABLE entries (id INTEGER PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts (id));
             CREATE INDEX entries_account ON entries (account_id);`,
    postgres: 'unused',
  },
];

let directory: TemporaryDirectory;

beforeEach(async () => {
  directory = await temporaryDirectory();
});

afterEach(async () => {
  await directory.remove();
});

describe('openSqlite page size', () => {
  it('sets the page size of a new file and leaves an existing file as it was made', () => {
    const file = join(directory.path, 'pages.sqlite');
    const created = openSqlite(file, { page_size_bytes: 16_384 });
    created.exec('CREATE TABLE t (x INTEGER)');
    expect(created.pragma('page_size', { simple: true })).toBe(16_384);
    created.close();
    const reopened = openSqlite(file, { page_size_bytes: 4_096 });
    expect(reopened.pragma('page_size', { simple: true })).toBe(16_384);
    reopened.close();
    const default_sized = openSqlite(join(directory.path, 'default.sqlite'));
    expect(default_sized.pragma('page_size', { simple: true })).toBe(4_096);
    default_sized.close();
  });
});

describe('openSqlite', () => {
  it('creates the folder and sets the durability pragmas', () => {
    const file = join(directory.path, 'nested', 'folder', 'ledger.sqlite');
    const db = openSqlite(file);
    try {
      expect(existsSync(file)).toBe(true);
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      // 2 is FULL.
      expect(db.pragma('synchronous', { simple: true })).toBe(2);
      expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
      expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    } finally {
      db.close();
    }
  });
});

describe('migrateSqlite', () => {
  it('applies pending migrations once, in order, and records them', () => {
    const file = join(directory.path, 'service.sqlite');
    const db = openSqlite(file);
    try {
      expect(migrateSqlite(db, migrations.slice(0, 1))).toEqual([1]);
      expect(migrateSqlite(db, migrations)).toEqual([2]);
      expect(migrateSqlite(db, migrations)).toEqual([]);
      const rows = db.prepare('SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version').all();
      expect(rows).toEqual([
        { version: 1, name: 'accounts', checksum: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown, applied_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown },
        { version: 2, name: 'entries', checksum: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown, applied_at: expect.any(String) as unknown },
      ]);
      // Foreign keys are on, so the migration's REFERENCES is enforced.
      expect(() => db.prepare("INSERT INTO entries (account_id) VALUES ('missing')").run()).toThrow(/FOREIGN KEY/);
    } finally {
      db.close();
    }
  });

  it('rolls back a failing migration and keeps the ones before it', () => {
    const db = openSqlite(join(directory.path, 'service.sqlite'));
    try {
      const broken: Migration = { version: 3, name: 'broken', sqlite: 'CREATE TABLE half (id INTEGER); CREATE TABLE nonsense (', postgres: 'unused' };
      expect(() => migrateSqlite(db, [...migrations, broken])).toThrow();
      const versions = db.prepare('SELECT version FROM schema_migrations').pluck().all();
      expect(versions).toEqual([1, 2]);
      expect(db.prepare("SELECT name FROM sqlite_master WHERE name = 'half'").get()).toBeUndefined();
    } finally {
      db.close();
    }
  });

  it('refuses to run when an applied migration has changed', () => {
    const db = openSqlite(join(directory.path, 'service.sqlite'));
    try {
      migrateSqlite(db, migrations);
      const edited = [migrations[0]!, { ...migrations[1]!, sqlite: `${migrations[1]!.sqlite} -- edited` }];
      expect(() => migrateSqlite(db, edited)).toThrow(MigrationError);
      expect(() => migrateSqlite(db, edited)).toThrow(/Migration 2 \(entries\) has changed since it was applied/);
    } finally {
      db.close();
    }
  });

  it('refuses a database migrated by newer code', () => {
    const db = openSqlite(join(directory.path, 'service.sqlite'));
    try {
      migrateSqlite(db, migrations);
      expect(() => migrateSqlite(db, migrations.slice(0, 1))).toThrow(/has migration 2, which this code does not know/);
    } finally {
      db.close();
    }
  });

  it('asserts that versions strictly increase', () => {
    const db = openSqlite(':memory:');
    try {
      expect(() => migrateSqlite(db, [migrations[1]!, migrations[0]!])).toThrow(AssertionError);
      expect(() => migrateSqlite(db, [migrations[0]!, migrations[0]!])).toThrow(AssertionError);
      expect(() => migrateSqlite(db, [{ ...migrations[0]!, version: 0 }])).toThrow(AssertionError);
    } finally {
      db.close();
    }
  });
});

describe('folderOpenToOthersWarning', () => {
  it('warns about an existing folder that group or others can reach, and not about a 0700 or missing one', () => {
    const open = join(directory.path, 'open');
    mkdirSync(open);
    chmodSync(open, 0o755);
    expect(folderOpenToOthersWarning(open, 'DATA_DIR')).toBe(`DATA_DIR ${open} is mode 0755: users other than its owner can reach it; make it 0700 (chmod 700 ${open})`);
    chmodSync(open, 0o710);
    expect(folderOpenToOthersWarning(open, 'DATA_DIR')).toContain('mode 0710');
    chmodSync(open, 0o700);
    expect(folderOpenToOthersWarning(open, 'DATA_DIR')).toBeUndefined();
    expect(folderOpenToOthersWarning(join(directory.path, 'missing'), 'DATA_DIR')).toBeUndefined();
  });
});
