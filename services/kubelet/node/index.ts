/** The kubelet's node registration, Lease and status reporting, shared by the real and the simulated kubelet. */
export * from './status';
export * from './lease';
export * from './manager';
