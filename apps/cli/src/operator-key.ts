import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makePrivateDirectory, private_file_mode } from '@paygrid/kernel';

/** Bytes of randomness in a generated operator key (256 bits). */
const operator_key_bytes = 32;

export interface OperatorKey {
  readonly key: string;
  /** Where the key came from, for the start-up banner. */
  readonly source: 'environment' | 'file' | 'generated';
  readonly file?: string;
}

/**
 * The operator key: PAYGRID_OPERATOR_KEY when set; otherwise the one kept in
 * DATA_DIR/operator.key, generated on first start with mode 0600 so only its owner can read it.
 */
export function loadOperatorKey(config: { readonly DATA_DIR: string; readonly PAYGRID_OPERATOR_KEY?: string | undefined }): OperatorKey {
  if (config.PAYGRID_OPERATOR_KEY !== undefined) return { key: config.PAYGRID_OPERATOR_KEY, source: 'environment' };
  const file = join(config.DATA_DIR, 'operator.key');
  try {
    const key = readFileSync(file, 'utf8').trim();
    if (key.length > 0) return { key, source: 'file', file };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  makePrivateDirectory(config.DATA_DIR);
  const key = `op_${randomBytes(operator_key_bytes).toString('base64url')}`;
  // `wx` refuses to overwrite a key another process wrote a moment ago.
  writeFileSync(file, `${key}\n`, { mode: private_file_mode, flag: 'wx' });
  return { key, source: 'generated', file };
}
