/**
 * What integration and e2e tests use to run real infrastructure: etcd, nats-server and
 * kube-apiserver processes on free loopback ports in temporary folders, started the way
 * services/lib/topology.ts starts them for the real cluster, and never outliving the test run.
 */
export { freePort, freePortBase } from './ports';
export { startEtcdCluster } from './etcd';
export type { EtcdCluster, EtcdMember } from './etcd';
export { startNats } from './nats';
export type { NatsCluster, NatsServer } from './nats';
export { startApiserver } from './apiserver';
export type { Apiserver, StartApiserverOptions } from './apiserver';
export { makeTempDir, removeTempDir } from './cleanup';
export { ManagedProcess } from './process';
export type { ExitStatus, ProcessControls } from './process';
export { startRuntime, type Runtime, type StartRuntimeOptions } from './runtime';
export { startKubelet } from './kubelet';
export type { Kubelet, StartKubeletOptions } from './kubelet';
export { startClusterDns } from './dns';
export type { ClusterDns, StartClusterDnsOptions } from './dns';
export { connectCode, httpGet, httpTextServer, udpEchoServer, udpExchange } from './net';
