#!/usr/bin/env node
// The `paygrid` command. Paygrid ships TypeScript sources and runs them through tsx, so one
// install serves `npm start`, the CLI and the tests alike, with no build step to forget.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv.slice(2));
