/**
 * The writer of the watch-delivery benchmark, in its own process as a real client would be:
 * creates ConfigMaps through the apiserver at a fixed rate and watches their keys in etcd
 * directly, to note the moment each commit becomes observable. Reports both, as epoch
 * milliseconds with sub-millisecond precision, to its parent.
 * Arguments: <apiserver> <etcd-endpoints,> <namespace> <rate> <seconds> <name-prefix>
 */
import { Etcd3 } from 'etcd3';
import { ApiClient } from '../../services/lib/apiclient';
import { resourceForCase } from '../../services/lib/resources';

const now = () => performance.timeOrigin + performance.now();

async function main(): Promise<void> {
  const [apiserver, etcdEndpoints, namespace, rateArg, secondsArg, prefix] = process.argv.slice(2);
  const rate = Number(rateArg);
  const total = rate * Number(secondsArg);
  const client = new ApiClient([apiserver]);
  const etcd = new Etcd3({ hosts: etcdEndpoints.split(','), grpcOptions: { 'grpc.enable_channelz': 0 } });
  const sent: [string, number][] = [];
  const committed: [string, number][] = [];
  const watch = await etcd.watch().prefix(`/registry/configmaps/${namespace}/${prefix}`).create();
  watch.on('put', (kv) => committed.push([kv.key.toString().split('/').pop()!, now()]));
  const start = performance.now();
  const inflight: Promise<unknown>[] = [];
  for (let i = 0; i < total; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const name = `${prefix}${i}`;
    sent.push([name, now()]);
    inflight.push(client.create(resourceForCase('configMap'), { metadata: { name, namespace }, data: { payload: 'x'.repeat(900) } }));
  }
  await Promise.all(inflight);
  await new Promise((r) => setTimeout(r, 500));
  await watch.cancel();
  process.send!({ sent, committed }, () => {
    client.close();
    etcd.close();
    process.exit(0);
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
