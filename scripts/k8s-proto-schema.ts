/**
 * Regenerates services/kube-apiserver/rest/k8s-proto-schema.json: the field numbers, names and
 * types of Kubernetes' own protobuf messages (k8s.io/api generated.proto), which the REST front
 * end needs to read request bodies that client-go's typed clients send as
 * application/vnd.kubernetes.protobuf (kubectl create configmap|namespace|secret|deployment, run,
 * drain's evictions...). The descriptors are read from the kubectl binary, where Go's protobuf
 * registry keeps them gzipped. Only messages reachable from the kinds kubemu serves are kept.
 *
 *   node dist/scripts/k8s-proto-schema.js [/usr/bin/kubectl] [out.json]
 *
 * out.json defaults to the committed file; scripts/generate.sh passes another path to compare
 * (--check) and runs this only where kubectl is installed.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorProto, FileDescriptorProtoSchema, DescriptorProto } from '@bufbuild/protobuf/wkt';
import { RESOURCES } from '../services/lib/resources';
import { protoPackageOf, ProtoSchema, SchemaField } from '../services/kube-apiserver/rest/k8sproto';

const WANTED_FILES = /^k8s\.io\/(api\/(core|apps|batch|policy|networking|coordination|autoscaling)\/v1|apimachinery\/pkg\/(apis\/meta\/v1|runtime|util\/intstr|api\/resource))\/generated\.proto$/;

function descriptorsIn(binary: Buffer): FileDescriptorProto[] {
  const out: FileDescriptorProto[] = [];
  for (let i = binary.indexOf(Buffer.from([0x1f, 0x8b, 0x08])); i >= 0; i = binary.indexOf(Buffer.from([0x1f, 0x8b, 0x08]), i + 1)) {
    let raw: Buffer;
    try {
      raw = zlib.gunzipSync(binary.subarray(i, i + 1_000_000), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    } catch {
      continue;
    }
    if (!raw.subarray(0, 200).includes('generated.proto')) continue;
    try {
      const fd = fromBinary(FileDescriptorProtoSchema, raw);
      if (WANTED_FILES.test(fd.name)) out.push(fd);
    } catch {
      // not a descriptor after all
    }
  }
  return out;
}

function kindOf(type: number): SchemaField[2] {
  // google.protobuf.FieldDescriptorProto.Type
  switch (type) {
    case 9:
      return 's';
    case 8:
      return 'b';
    case 12:
      return 'y';
    case 1:
    case 2:
      return 'd';
    case 11:
      return 'm';
    default:
      return 'i';
  }
}

function main(): void {
  const kubectl = process.argv[2] ?? '/usr/bin/kubectl';
  const files = descriptorsIn(fs.readFileSync(kubectl));
  const all: ProtoSchema = {};
  const add = (pkg: string, prefix: string, m: DescriptorProto) => {
    const name = `${prefix}.${m.name}`;
    all[name] = {
      ...(m.options?.mapEntry ? { map: true } : {}),
      fields: m.field.map((f): SchemaField => {
        const entry: SchemaField = [f.number, f.name, kindOf(f.type)];
        if (f.typeName) entry.push(f.typeName.replace(/^\./, ''));
        else entry.push('');
        entry.push(f.label === 3 ? 1 : 0);
        return entry;
      }),
    };
    for (const n of m.nestedType) add(pkg, name, n);
  };
  for (const fd of files) for (const m of fd.messageType) add(fd.package, fd.package, m);
  // Keep what the served kinds (and the request bodies around them) reach.
  const roots = [
    ...RESOURCES.map((r) => `${protoPackageOf(r.apiVersion)}.${r.kind}`),
    'k8s.io.api.core.v1.Binding',
    'k8s.io.api.policy.v1.Eviction',
    'k8s.io.api.autoscaling.v1.Scale',
    'k8s.io.apimachinery.pkg.apis.meta.v1.DeleteOptions',
    'k8s.io.apimachinery.pkg.runtime.Unknown',
  ];
  const keep: ProtoSchema = {};
  const visit = (name: string) => {
    if (keep[name] || !all[name]) return;
    keep[name] = all[name];
    for (const f of all[name].fields) if (f[3]) visit(f[3]);
  };
  for (const r of roots) {
    if (!all[r]) throw new Error(`k8s-proto-schema: ${r} is not in ${kubectl}`);
    visit(r);
  }
  const out = process.argv[3] ?? path.join(__dirname, '..', '..', 'services', 'kube-apiserver', 'rest', 'k8s-proto-schema.json');
  const sorted = Object.fromEntries(Object.keys(keep).sort().map((k) => [k, keep[k]]));
  fs.writeFileSync(out, JSON.stringify(sorted) + '\n');
  console.log(`wrote ${Object.keys(sorted).length} messages to ${out}`);
}

main();
