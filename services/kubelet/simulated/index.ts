/** Many simulated nodes in one process (the role of KWOK). */
export * from './addresses';
export * from './podstatus';
export * from './kubelet';
export * from './env';
