// openapi - the committed proto model (services/kube-apiserver/openapi/generated/proto-model.ts)
// is what buf reads from proto/ today; regenerate it with
//   npx tsc -p . && node dist/services/kube-apiserver/openapi/generate-model.js
import * as fs from 'fs';
import { generateModelSource, modelSourcePath } from '../../services/kube-apiserver/openapi/generate-model';
import { PROTO_MODEL } from '../../services/kube-apiserver/openapi/generated/proto-model';
import { buildProtoModel } from '../../services/kube-apiserver/openapi/proto-model';

describe('openapi - proto model', () => {
  test('openapi - the committed model is up to date with proto/', () => {
    const fresh = generateModelSource();
    const committed = fs.readFileSync(modelSourcePath(), 'utf8');
    if (fresh !== committed) {
      throw new Error('services/kube-apiserver/openapi/generated/proto-model.ts is stale: run `npx tsc -p . && node dist/services/kube-apiserver/openapi/generate-model.js` and commit it');
    }
  });

  test('openapi - the model keeps API types only, with JSON names, maps, optionals and comments', () => {
    expect(PROTO_MODEL.messages['kubemu.core.v1.Pod']).toBeDefined();
    expect(PROTO_MODEL.messages['kubemu.apiserver.v1.Object']).toBeUndefined();
    expect(Object.keys(PROTO_MODEL.messages).some((n) => n.startsWith('kubemu.runtime.'))).toBe(false);
    const node = PROTO_MODEL.messages['kubemu.core.v1.DaemonEndpoint'].fields[0];
    expect(node.name).toBe('Port'); // the JSON name as Kubernetes spells it
    const spec = PROTO_MODEL.messages['kubemu.core.v1.PodSpec'];
    expect(spec.fields.find((f) => f.name === 'nodeSelector')?.map).toEqual({ type: 'string' });
    expect(spec.fields.find((f) => f.name === 'containers')).toMatchObject({ repeated: true, type: 'message', typeName: 'kubemu.core.v1.Container' });
    expect(spec.fields.find((f) => f.name === 'priority')).toMatchObject({ optional: true, type: 'int32' });
    expect(spec.fields.find((f) => f.name === 'restartPolicy')?.comment).toBe('Always, OnFailure or Never.');
  });

  test('openapi - buildProtoModel folds map entries, keeps nested messages and enums, skips service files', () => {
    const model = buildProtoModel({
      file: [
        { name: 'x/svc.proto', package: 'kubemu.svc.v1', messageType: [{ name: 'Req' }], service: [{}] },
        {
          name: 'x/t.proto',
          package: 'kubemu.t.v1',
          messageType: [
            {
              name: 'T',
              field: [
                { name: 'm', number: 1, label: 'LABEL_REPEATED', type: 'TYPE_MESSAGE', typeName: '.kubemu.t.v1.T.MEntry', jsonName: 'm' },
                { name: 'inner', number: 2, type: 'TYPE_MESSAGE', typeName: '.kubemu.t.v1.T.Inner', jsonName: 'inner' },
                { name: 'e', number: 3, type: 'TYPE_ENUM', typeName: '.kubemu.t.v1.E', jsonName: 'e' },
              ],
              nestedType: [
                { name: 'MEntry', options: { mapEntry: true }, field: [{ name: 'key', number: 1, type: 'TYPE_STRING' }, { name: 'value', number: 2, type: 'TYPE_BYTES' }] },
                { name: 'Inner', field: [{ name: 'x', number: 1, type: 'TYPE_SINT64', jsonName: 'x' }] },
              ],
            },
          ],
          enumType: [{ name: 'E', value: [{ name: 'A' }, { name: 'B' }] }],
          sourceCodeInfo: { location: [{ path: [4, 0, 2, 1], leadingComments: ' The inner\n part.\n' }, { path: [4, 0, 3, 1], leadingComments: ' Inner doc.\n' }] },
        },
      ],
    });
    expect(Object.keys(model.messages).sort()).toEqual(['kubemu.t.v1.T', 'kubemu.t.v1.T.Inner']);
    const t = model.messages['kubemu.t.v1.T'];
    expect(t.fields[0]).toEqual({ name: 'm', number: 1, type: 'message', map: { type: 'bytes' } });
    expect(t.fields[1]).toMatchObject({ typeName: 'kubemu.t.v1.T.Inner', comment: 'The inner part.' });
    expect(t.fields[2]).toMatchObject({ type: 'enum', typeName: 'kubemu.t.v1.E' });
    expect(model.messages['kubemu.t.v1.T.Inner']).toEqual({ comment: 'Inner doc.', fields: [{ name: 'x', number: 1, type: 'int64' }] });
    expect(model.enums).toEqual({ 'kubemu.t.v1.E': ['A', 'B'] });
  });
});
