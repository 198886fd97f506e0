import { z } from 'zod';

// Its own module because both the monitors schema and the alerting schema (webhook URLs) use it.
export const SecretSource = z.union([
  z.object({ env: z.string().min(1).describe('Name of the environment variable holding the secret.') }).strict(),
  z.object({ file: z.string().min(1).describe('Path of a file holding the secret (trailing newline ignored).') }).strict(),
  z.string().min(1).describe('The secret itself. Accepted with a warning: prefer env or file.'),
]);

export type SecretSourceInput = z.infer<typeof SecretSource>;
