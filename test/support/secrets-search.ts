// Searching raw bytes for secrets: the outside check that a secret is stored nowhere in plain
// text. It reads files as bytes, with no knowledge of their format, so it sees what a backup, a
// copied disk or a log shipper would see.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';

export interface Haystack {
  readonly where: string;
  readonly bytes: Buffer;
}

export interface Needle {
  readonly what: string;
  readonly bytes: Buffer;
}

/** Every regular file of the folder (the SQLite files with their -wal and -shm), read now. */
export async function filesOf(directory: string): Promise<Haystack[]> {
  const haystacks: Haystack[] = [];
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    if (entry.isFile()) haystacks.push({ where: entry.name, bytes: await readFile(join(directory, entry.name)) });
  }
  return haystacks;
}

/**
 * Every regular file under the folder, in every subfolder, named by its path inside it: what a
 * backup of DATA_DIR would hold.
 */
export async function filesUnder(directory: string, prefix = ''): Promise<Haystack[]> {
  const haystacks: Haystack[] = [];
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) haystacks.push(...(await filesUnder(path, `${prefix}${entry.name}/`)));
    else if (entry.isFile()) haystacks.push({ where: `${prefix}${entry.name}`, bytes: await readFile(path) });
  }
  return haystacks;
}

/**
 * A webhook endpoint's secret (`whsec_` and the base64 of its key) as text, its base64 part
 * alone, and the key itself as raw bytes, hex and base64url: every form a store could keep it in.
 */
export function webhookSecretNeedles(secret: string): Needle[] {
  const encoded = secret.slice('whsec_'.length);
  const key = Buffer.from(encoded, 'base64');
  return [
    { what: secret, bytes: Buffer.from(secret, 'utf8') },
    { what: `${secret} (base64 part)`, bytes: Buffer.from(encoded, 'utf8') },
    { what: `${secret} (key bytes)`, bytes: key },
    { what: `${secret} (key hex)`, bytes: Buffer.from(key.toString('hex'), 'utf8') },
    { what: `${secret} (key base64url)`, bytes: Buffer.from(key.toString('base64url'), 'utf8') },
  ];
}

/** A number of digits (an account or card number) as UTF-8 and UTF-16 text. */
export function digitNeedles(digits: string, name: string): Needle[] {
  return [
    { what: `${name} ${digits}`, bytes: Buffer.from(digits, 'utf8') },
    { what: `${name} ${digits} (UTF-16)`, bytes: Buffer.from(digits, 'utf16le') },
  ];
}

/** A signing secret as text, and its random part alone (what a prefix-stripping encoding would keep). */
export function secretNeedles(secret: string): Needle[] {
  return [
    { what: secret, bytes: Buffer.from(secret, 'utf8') },
    { what: `${secret} (random part)`, bytes: Buffer.from(secret.slice(-32), 'utf8') },
  ];
}

/** A key-encryption key in every form it could be written: its raw bytes, hex either case, base64 and base64url. */
export function keyNeedles(hex: string, name: string): Needle[] {
  const raw = Buffer.from(hex, 'hex');
  return [
    { what: `${name} (raw bytes)`, bytes: raw },
    { what: `${name} (hex)`, bytes: Buffer.from(hex.toLowerCase(), 'utf8') },
    { what: `${name} (HEX)`, bytes: Buffer.from(hex.toUpperCase(), 'utf8') },
    { what: `${name} (base64)`, bytes: Buffer.from(raw.toString('base64').replace(/=+$/, ''), 'utf8') },
    { what: `${name} (base64url)`, bytes: Buffer.from(raw.toString('base64url'), 'utf8') },
  ];
}

/** `<needle> in <where>` for each needle found, so that a failure says what leaked where. */
export function findings(haystacks: readonly Haystack[], needles: readonly Needle[]): string[] {
  const found: string[] = [];
  for (const haystack of haystacks) {
    for (const needle of needles) if (haystack.bytes.includes(needle.bytes)) found.push(`${needle.what} in ${haystack.where}`);
  }
  return found;
}

async function adminQuery(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export interface ScratchDatabase {
  /** DATABASE_URL for a platform of its own. */
  readonly url: string;
  drop(): Promise<void>;
}

/** A database of its own for a whole platform (whose schemas have fixed names), dropped afterwards. */
export async function scratchDatabase(admin_url: string, name: string): Promise<ScratchDatabase> {
  const database = `${name}_${process.pid}_${Date.now().toString(36)}`;
  await adminQuery(admin_url, `CREATE DATABASE ${database}`);
  const url = new URL(admin_url);
  url.pathname = `/${database}`;
  return { url: url.toString(), drop: () => adminQuery(admin_url, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`) };
}
