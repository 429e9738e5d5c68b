/** A background loop that can be stopped and awaited. */
export interface Stoppable {
  stop(): Promise<void>;
}
