import { hostname } from 'node:os';

/** One hash chain per replica: the configured id, else the host name (unique per pod in Kubernetes). */
export function defaultReplicaId(env: Record<string, string | undefined> = process.env): string {
  return env.AIGOV_REPLICA_ID || hostname() || 'aigov';
}

/** Spool sub-directory for a replica id: keeps ids with slashes or dots inside the spool root. */
export function replicaDirName(replicaId: string): string {
  return replicaId.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^\.+/, '_') || '_';
}
