#!/usr/bin/env node
import { main } from '../dist/src/cli/main.js';

// Exit explicitly: after a graceful stop, a check abandoned past its grace period may still hold a socket.
process.exit(await main(process.argv.slice(2)));
