/** The verified caller, as policies, limits and audit see it. Never holds the secret. */
export interface KeyIdentity {
  id: string;
  owner: string;
  name: string | null;
  team: string | null;
  tags: string[];
  /** Allowed model glob patterns; empty means any model. */
  models: string[];
  expiresAt: Date | null;
}
