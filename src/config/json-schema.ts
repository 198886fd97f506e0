import { z } from 'zod';
import { MonitorsFile } from './schema.js';

type Node = { properties?: Record<string, Node>; additionalProperties?: Node | boolean; items?: Node; anyOf?: Node[]; oneOf?: Node[]; allOf?: Node[] };

let generated: Record<string, unknown> | undefined;

function schemaObject(): Record<string, unknown> {
  generated ??= z.toJSONSchema(MonitorsFile, { target: 'draft-7', unrepresentable: 'any' });
  return generated;
}

/** The editor-facing JSON Schema of monitors.json, generated from the same zod schema the loader uses. */
export function monitorsJsonSchema(): string {
  return `${JSON.stringify({ ...schemaObject(), title: 'mailprobe monitors file' }, null, 2)}\n`;
}

/** The keys an object at this path of monitors.json may have (every branch of a union), for "did you mean". */
export function knownKeysAt(path: ReadonlyArray<PropertyKey>): string[] {
  let nodes: Node[] = [schemaObject()];
  for (const segment of path) {
    nodes = nodes.flatMap(branches).flatMap((node) => {
      if (typeof segment === 'number') return node.items ? [node.items] : [];
      const named = node.properties?.[String(segment)];
      if (named) return [named];
      return typeof node.additionalProperties === 'object' ? [node.additionalProperties] : [];
    });
  }
  return [...new Set(nodes.flatMap(branches).flatMap((node) => Object.keys(node.properties ?? {})))];
}

function branches(node: Node): Node[] {
  const alternatives = [...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? [])];
  return alternatives.length === 0 ? [node] : [node, ...alternatives.flatMap(branches)];
}
