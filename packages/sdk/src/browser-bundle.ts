// Bundles the browser client (browser.ts) into one ES module with esbuild, for a checkout page to
// load and for the tests that load it into a real browser. Bundled for the browser platform, so a
// Node import anywhere in its graph stops the build rather than reaching a page.
//
//   npm run build:browser -w @paygrid/sdk      writes packages/sdk/dist/paygrid-browser.js
import { writeFile, mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

export const browser_entry = fileURLToPath(new URL('./browser.ts', import.meta.url));
/** Browsers from 2022 on run ES2022 (class private fields) as it is. */
export const browser_target = 'es2022';

export interface BrowserBundle {
  /** One ES module exporting PaygridBrowser and the error classes. */
  readonly code: string;
  /** Every file the bundle was built from, absolute. */
  readonly inputs: readonly string[];
}

/** Bundles `entry` (the browser client by default) for browsers; rejects when anything in it needs Node. */
export async function bundleForBrowser(entry = browser_entry): Promise<BrowserBundle> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: browser_target,
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const output = result.outputFiles[0];
  if (output === undefined) throw new Error('esbuild wrote no bundle');
  // Inputs are relative to the working directory esbuild ran in.
  return { code: output.text, inputs: Object.keys(result.metafile.inputs).map((input) => resolve(input)) };
}

async function writeBrowserBundle(outfile: string): Promise<void> {
  const bundle = await bundleForBrowser();
  await mkdir(dirname(outfile), { recursive: true });
  await writeFile(outfile, bundle.code);
  console.log(`wrote ${outfile} (${bundle.code.length} bytes)`);
}

const invoked = process.argv[1];
if (invoked !== undefined && import.meta.url === pathToFileURL(resolve(invoked)).href) {
  await writeBrowserBundle(resolve(process.argv[2] ?? 'dist/paygrid-browser.js'));
}
