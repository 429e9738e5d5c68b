import type { Cluster } from "@openclaw/bus";
import type { Logger } from "@openclaw/log";
import type { NodeStore } from "./db/node-store.js";

/**
 * Makes sure the read model holds this cluster's state and no other's. A cluster is known by its
 * EVENTS stream (the stream's name carries the subject prefix, its creation time tells one NATS
 * store from another): a file last fed by another stream, or one whose cursor is past this
 * stream's end, is emptied and rebuilt from this cluster. Runs before the projection starts.
 */
/** How the read model names the EVENTS stream it follows. */
export function eventStreamIdentity(stream: string, created: string): string {
  return `${stream} created ${created}`;
}

export async function adoptCluster(cluster: Cluster, store: NodeStore, log: Logger): Promise<void> {
  const stream = cluster.names.streams.events;
  const info = await cluster.jsm.streams.info(stream);
  const known = store.eventStreamCreated();
  const identity = eventStreamIdentity(stream, info.created);
  const cursor = store.eventCursor();
  // A file written before the stream's name was kept holds the creation time alone.
  const other = known !== undefined && known !== identity && known !== info.created;
  if (other || info.state.last_seq < cursor) {
    log.warn(
      { error_code: "OC-5005", was: known, now: identity, cursor, last_seq: info.state.last_seq },
      "the read model was built from another cluster (another NATS, prefix or store); starting it over from this one",
    );
    store.startOver();
  }
  store.setEventStreamCreated(identity);
}
