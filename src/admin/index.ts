/** The admin API (docs/admin.md): keys, usage logs, stats, policies. */
export { registerAdminRoutes } from './routes.js';
export { adminSchemas } from './schemas.js';
