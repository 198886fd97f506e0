import { z } from 'zod';
import { MonitorsFile } from './schema.js';

/** The editor-facing JSON Schema of monitors.json, generated from the same zod schema the loader uses. */
export function monitorsJsonSchema(): string {
  const schema = z.toJSONSchema(MonitorsFile, { target: 'draft-7', unrepresentable: 'any' });
  return `${JSON.stringify({ ...schema, title: 'mailprobe monitors file' }, null, 2)}\n`;
}
