import { type Cluster, type ElectOutcome, type Leaders, readLeaders, requestElection } from "@openclaw/bus";
import { OcError, type Sender } from "@openclaw/protocol";

/** How long `POST /api/v1/cluster/elect` waits for each role's leader to answer. */
export const ELECT_TIMEOUT_MS = 5000;

/** What the leadership routes need from NATS; `natsLeadership` is the real one. */
export interface Leadership {
  /** Every role's lease, straight from the `leases` bucket. */
  leaders(): Promise<Leaders>;
  /** Asks each role's leader to step down; one outcome per role, in order. */
  elect(roles: readonly string[], reason: string): Promise<ElectOutcome[]>;
}

/** Leadership over the cluster's NATS connection. */
export function natsLeadership(cluster: Cluster, sender: Sender, timeoutMs = ELECT_TIMEOUT_MS): Leadership {
  return {
    async leaders() {
      try {
        return await readLeaders(cluster);
      } catch (err) {
        throw new OcError("OC-5003", `cannot read the leases bucket (NATS: ${(err as Error).message})`, {
          cause: err,
        });
      }
    },
    elect: (roles, reason) =>
      Promise.all(roles.map((role) => requestElection(cluster, sender, role, { timeoutMs, reason }))),
  };
}
