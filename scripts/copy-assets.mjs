// tsc compiles only TypeScript; the SQL migrations are read from next to the compiled migrate.js.
import { cpSync, mkdirSync } from 'node:fs';

mkdirSync('dist/db/migrations', { recursive: true });
cpSync('src/db/migrations', 'dist/db/migrations', { recursive: true, filter: (p) => !p.endsWith('.ts') });
