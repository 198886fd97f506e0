import { readFileSync } from 'node:fs';

// `node dist/bench/heap-summary.js FILE.heapsnapshot [N]`: the N largest groups of a V8 heap snapshot by self
// size — plain objects grouped by their property names (so "monitor,check,state,…" is the status board's entry),
// everything else by node type and constructor. Written to read the snapshots `npm run bench -- --heap-snapshot`
// takes; Chrome DevTools reads them too, but not files of hundreds of megabytes comfortably.

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

function main(): void {
  const [file, limit = '40'] = process.argv.slice(2);
  if (!file) throw new Error('usage: heap-summary.js FILE.heapsnapshot [N]');
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const {
    node_fields: nf,
    node_types: [nodeTypes],
    edge_fields: ef,
    edge_types: [edgeTypes],
  } = snap.snapshot.meta;
  const [N, E] = [nf.length, ef.length];
  const [iType, iName, iSize, iEdges] = ['type', 'name', 'self_size', 'edge_count'].map((f) => nf.indexOf(f)) as [number, number, number, number];
  const [eType, eName] = ['type', 'name_or_index'].map((f) => ef.indexOf(f)) as [number, number];
  const groups = new Map<string, { count: number; bytes: number }>();
  let total = 0;
  for (let node = 0, edge = 0; node < snap.nodes.length; node += N) {
    const type = nodeTypes[snap.nodes[node + iType] ?? 0] ?? '?';
    const name = snap.strings[snap.nodes[node + iName] ?? 0] ?? '';
    const edges = (snap.nodes[node + iEdges] ?? 0) * E;
    let key = `${type} ${name.slice(0, 50)}`;
    if (type === 'object' && name === 'Object') {
      const props: string[] = [];
      for (let e = edge; e < edge + edges && props.length < 8; e += E) {
        if (edgeTypes[snap.edges[e + eType] ?? 0] === 'property') props.push(snap.strings[snap.edges[e + eName] ?? 0] ?? '');
      }
      key = `{${props.filter((p) => p !== '__proto__').join(',')}}`;
    } else if (type.includes('string')) key = `(${type})`;
    else if (type === 'code') key = '(code)';
    edge += edges;
    const size = snap.nodes[node + iSize] ?? 0;
    total += size;
    const group = groups.get(key) ?? { count: 0, bytes: 0 };
    group.count += 1;
    group.bytes += size;
    groups.set(key, group);
  }
  const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(2)} MB`;
  process.stdout.write(`${file}: ${mb(total)} live in ${snap.nodes.length / N} nodes\n`);
  for (const [key, group] of [...groups].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, Number(limit))) {
    process.stdout.write(`${mb(group.bytes).padStart(10)} ${String(group.count).padStart(8)}  ${key}\n`);
  }
}

main();
