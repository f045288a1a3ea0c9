// What the suites of this package share: whether xmllint is there, and what to do when it is not.
import { existsSync } from 'node:fs';
import { xmllint_path } from './validate';

/**
 * Without xmllint the suites that validate files fail in CI (CI=true), where .ci/run installs
 * libxml2-utils, and are skipped with a [skip] line elsewhere.
 */
export const xmllint_present = existsSync(xmllint_path);
export const xmllint_skipped = !xmllint_present && process.env.CI !== 'true';
if (xmllint_skipped) console.warn('[skip] ISO 20022 validation suites skipped: apt-get install libxml2-utils (for xmllint)');
