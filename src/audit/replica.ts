import { hostname } from 'node:os';

/** The port whose replicas keep the bare host name as id (compatible with earlier releases). */
export const DEFAULT_PORT = 8080;

/**
 * One hash chain (and one spool) per replica: the configured id, else the host name (unique per
 * pod in Kubernetes), with the listen port appended when it is not the default 8080, so several
 * processes on one host (pm2, systemd templates, a quick local test) get distinct ids that stay
 * the same across restarts. Port 0 (any free port) cannot be stable: the process id is used.
 */
export function defaultReplicaId(
  env: Record<string, string | undefined> = process.env,
  port: number = DEFAULT_PORT,
): string {
  if (env.AIGOV_REPLICA_ID) return env.AIGOV_REPLICA_ID;
  const host = hostname() || 'aigov';
  if (port === DEFAULT_PORT) return host;
  return port === 0 ? `${host}-pid${process.pid}` : `${host}-${port}`;
}

/** Spool sub-directory for a replica id: keeps ids with slashes or dots inside the spool root. */
export function replicaDirName(replicaId: string): string {
  return replicaId.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+/, '_') || '_';
}
