#!/usr/bin/env node
import { boundHeapGrowth } from '../dist/src/daemon/heap.js';

// Before anything else is loaded: loading the modules alone grows V8's young generation to its full size.
boundHeapGrowth();
const { main } = await import('../dist/src/cli/main.js');

// Exit explicitly: after a graceful stop, a check abandoned past its grace period may still hold a socket.
process.exit(await main(process.argv.slice(2)));
