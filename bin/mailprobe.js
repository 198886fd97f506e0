#!/usr/bin/env node
// First, before the rest of the program loads: V8 grows the young generation while modules load and a large
// configuration is parsed, and a growth it has made is kept as long as the agent stays busy.
import { boundHeapGrowth, runsTheAgent } from '../dist/src/daemon/heap.js';

if (runsTheAgent(process.argv.slice(2))) boundHeapGrowth();
const { main } = await import('../dist/src/cli/main.js');

// Exit explicitly: after a graceful stop, a check abandoned past its grace period may still hold a socket.
process.exit(await main(process.argv.slice(2)));
