import type { Api, RouteDeps } from "../api.js";
import { toClusterHealth } from "../present.js";
import { ClusterHealthJson } from "../schemas.js";

/** `GET /api/v1/cluster/health`: node counts by status and capacity of the nodes that are up. */
export function registerClusterRoutes(app: Api, deps: RouteDeps): void {
  app.get("/api/v1/cluster/health", { schema: { response: { 200: ClusterHealthJson } } }, async () =>
    toClusterHealth(deps.store.statusTotals(), deps.now()),
  );
}
