/**
 * kubemu-api: a small command-line client of the apiserver's gRPC API, for seeing the foundation
 * work before the REST API and kubectl support arrive. It finds the running cluster the way
 * `npm run status` does (KUBEMU_STATE_DIR, default .kubemu) or takes KUBEMU_APISERVERS.
 *
 *   node dist/scripts/api.js get <resource> [name] [-n ns | -A] [-l selector] [--field-selector f]
 *   node dist/scripts/api.js create -f <file.json> [-n ns]
 *   node dist/scripts/api.js update -f <file.json>
 *   node dist/scripts/api.js patch <resource> <name> -p '<json>' [--type merge|json] [--subresource status] [-n ns]
 *   node dist/scripts/api.js delete <resource> <name> [-n ns] [--grace-period N] [--cascade background|foreground|orphan]
 *   node dist/scripts/api.js bind <pod> <node> [-n ns]
 *   node dist/scripts/api.js scale <deployments|replicasets|statefulsets> <name> --replicas N [-n ns]
 *   node dist/scripts/api.js watch <resource> [-n ns] [--node name]
 *
 * Objects are printed as Kubernetes JSON; errors as Kubernetes Status messages, with the exit code 1.
 */
import * as fs from 'fs';
import { ApiClient } from '../services/lib/apiclient';
import { ApiError } from '../services/lib/errors';
import { Informer } from '../services/lib/informer';
import { findResource, KubeObject, ResourceInfo, RESOURCES } from '../services/lib/resources';
import { buildTopology, settingsFromEnv } from '../services/lib/topology';
import { connectBus } from '../services/lib/watchbus';

interface Args {
  positional: string[];
  flags: Map<string, string>;
}

function parse(argv: string[]): Args {
  const positional: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-A' || a === '--all-namespaces') flags.set('A', 'true');
    else if (a.startsWith('--') && a.includes('=')) flags.set(a.slice(2, a.indexOf('=')), a.slice(a.indexOf('=') + 1));
    else if (a.startsWith('-')) flags.set(a.replace(/^-+/, ''), argv[++i] ?? '');
    else positional.push(a);
  }
  return { positional, flags };
}

function resource(name: string | undefined): ResourceInfo {
  const wanted = (name ?? '').toLowerCase();
  const info = findResource(wanted) ?? RESOURCES.find((r) => r.shortNames.includes(wanted) || r.singular === wanted || r.kind.toLowerCase() === wanted);
  if (!info) throw new Error(`unknown resource "${name}"; one of: ${RESOURCES.map((r) => r.resource).join(', ')}`);
  return info;
}

function readObject(file: string | undefined): KubeObject {
  if (!file) throw new Error('-f <file.json> is required');
  const text = file === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(file, 'utf8');
  return JSON.parse(text) as KubeObject;
}

function infoForObject(obj: KubeObject): ResourceInfo {
  const info = RESOURCES.find((r) => r.kind === obj.kind && (!obj.apiVersion || r.apiVersion === obj.apiVersion));
  if (!info) throw new Error(`unknown kind ${obj.apiVersion}/${obj.kind}`);
  return info;
}

const print = (info: ResourceInfo, obj: unknown) => process.stdout.write(JSON.stringify(info.codec.toJSON(obj as never), null, 2) + '\n');

async function main(argv: string[]): Promise<number> {
  const { positional, flags } = parse(argv);
  const [command, ...rest] = positional;
  const addresses = process.env.KUBEMU_APISERVERS?.split(',') ?? buildTopology(settingsFromEnv()).apiservers;
  const client = new ApiClient(addresses, { retryForMs: 3000 });
  const ns = flags.get('A') ? '' : flags.get('n') ?? flags.get('namespace') ?? 'default';
  try {
    switch (command) {
      case 'get': {
        const info = resource(rest[0]);
        const scope = info.namespaced ? ns : '';
        if (rest[1]) {
          print(info, await client.get(info, scope, rest[1]));
        } else {
          const list = await client.list(info, scope, { labelSelector: flags.get('l'), fieldSelector: flags.get('field-selector') });
          process.stdout.write(JSON.stringify({ apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: list.resourceVersion }, items: list.items.map((o) => info.codec.toJSON(o as never)) }, null, 2) + '\n');
        }
        return 0;
      }
      case 'create':
      case 'update': {
        const json = readObject(flags.get('f'));
        // A List (as kubectl accepts) is its items, in order.
        const list = json as KubeObject & { items?: unknown };
        const items = json.kind === 'List' && Array.isArray(list.items) ? (list.items as KubeObject[]) : [json];
        for (const item of items) {
          const info = infoForObject(item);
          const obj = info.codec.fromJSON(item) as KubeObject;
          if (info.namespaced) (obj.metadata ??= {}).namespace ||= ns;
          print(info, command === 'create' ? await client.create(info, obj as never) : await client.update(info, obj as never));
        }
        return 0;
      }
      case 'patch': {
        const info = resource(rest[0]);
        const type = flags.get('type') === 'json' ? 'application/json-patch+json' : 'application/merge-patch+json';
        const sub = flags.get('subresource') === 'status' ? 'status' : '';
        print(info, await client.patch(info, info.namespaced ? ns : '', rest[1], flags.get('p') ?? '{}', { patchType: type, subresource: sub }));
        return 0;
      }
      case 'delete': {
        const info = resource(rest[0]);
        const cascade = flags.get('cascade');
        const policy = cascade ? ({ background: 'Background', foreground: 'Foreground', orphan: 'Orphan' } as Record<string, string>)[cascade] ?? cascade : undefined;
        const grace = flags.get('grace-period');
        const out = await client.delete(info, info.namespaced ? ns : '', rest[1], { propagationPolicy: policy, gracePeriodSeconds: grace !== undefined ? Number(grace) : undefined });
        if (out.object) print(info, out.object);
        else process.stdout.write(`${info.resource} "${rest[1]}" deleted\n`);
        return 0;
      }
      case 'scale': {
        const info = resource(rest[0]);
        const replicas = Number(flags.get('replicas'));
        if (flags.get('replicas') === undefined || !Number.isInteger(replicas)) throw new Error('--replicas N is required');
        const scale = await client.updateScale(info, ns, { metadata: { name: rest[1] }, spec: { replicas } });
        process.stdout.write(`${info.singular}/${rest[1]} scaled to ${scale.spec?.replicas}\n`);
        return 0;
      }
      case 'bind': {
        await client.bind(ns, rest[0], rest[1]);
        process.stdout.write(`pod "${rest[0]}" bound to node "${rest[1]}"\n`);
        return 0;
      }
      case 'watch': {
        const info = resource(rest[0]);
        const natsServers = process.env.KUBEMU_NATS_SERVERS?.split(',') ?? buildTopology(settingsFromEnv()).natsServers;
        const nc = await connectBus(natsServers, 'kubemu-api-watch');
        const namespace = info.namespaced && !flags.get('A') ? ns : undefined;
        const informer = new Informer({ client, nats: nc, info, namespace, nodeName: flags.get('node') });
        const line = (type: string, o: KubeObject) =>
          process.stdout.write(`${new Date().toISOString()} ${type.padEnd(8)} ${o.metadata?.namespace ? o.metadata.namespace + '/' : ''}${o.metadata?.name} rv=${o.metadata?.resourceVersion}\n`);
        informer.addHandlers({ onAdd: (o) => line('ADDED', o as KubeObject), onUpdate: (_x, o) => line('MODIFIED', o as KubeObject), onDelete: (o) => line('DELETED', o as KubeObject) });
        await informer.start();
        process.stderr.write(`listed at revision ${informer.resourceVersion}; following (Ctrl-C to stop)\n`);
        await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
        await informer.stop();
        await nc.close();
        return 0;
      }
      default:
        process.stderr.write('usage: node dist/scripts/api.js get|create|update|patch|delete|scale|bind|watch ... (see the comment at the top of scripts/api.ts)\n');
        return 2;
    }
  } catch (err) {
    if (err instanceof ApiError) {
      process.stderr.write(`Error from server (${err.reason}): ${err.message}\n`);
      return 1;
    }
    process.stderr.write(`error: ${(err as Error).message}\n`);
    return 1;
  } finally {
    client.close();
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code));
