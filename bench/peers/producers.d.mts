/** Types of producers.mjs for the driver (the peers themselves stay untyped here). */
export interface JobData {
  /** client number */
  c: number;
  /** index of the job within its client */
  i: number;
  /** enqueue stamp (process.hrtime, ms) for latency runs */
  t?: number;
  /** 1 = a job whose start the fairness run waits for */
  m?: number;
}

export interface Producer {
  /** creates per-client structures ahead of the run (BullMQ queues and their global concurrency) */
  prepare(clients: number): Promise<void>;
  /** enqueues a batch; each client's jobs keep the batch's order */
  enqueueBatch(entries: JobData[]): Promise<void>;
  enqueueOne(entry: JobData): Promise<void>;
  close(): Promise<void>;
}

export interface ProducerOptions {
  redisUrl: string;
  prefix: string;
  databaseUrl: string;
}

export declare const producers: Record<string, (options: ProducerOptions) => Promise<Producer>>;
export declare function peerVersions(): Record<string, string>;
