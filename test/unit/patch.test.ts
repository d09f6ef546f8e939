import { PatchError, applyJsonPatch, applyMergePatch, parsePatchDocument } from '../../services/lib/patch';

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object') {
    for (const key of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[key]);
    Object.freeze(v);
  }
  return v;
}

function patchError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PatchError);
    return (err as Error).message;
  }
  throw new Error('expected a PatchError');
}

describe('patch - JSON merge patch (RFC 7386)', () => {
  // RFC 7386 Appendix A.
  const cases: Array<[unknown, unknown, unknown]> = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [['a', 'b'], ['c', 'd'], ['c', 'd']],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];

  test.each(cases)('patch - merge %j with %j', (target, patch, expected) => {
    expect(applyMergePatch(target, patch)).toEqual(expected);
  });

  test('patch - a typical metadata.labels merge', () => {
    const pod = { metadata: { name: 'p', labels: { app: 'web', tier: 'fe' } }, spec: { containers: [{ name: 'c' }] } };
    expect(applyMergePatch(pod, { metadata: { labels: { tier: null, env: 'prod' } } })).toEqual({
      metadata: { name: 'p', labels: { app: 'web', env: 'prod' } },
      spec: { containers: [{ name: 'c' }] },
    });
  });

  test('patch - merge patch never mutates and never aliases its inputs', () => {
    const target = deepFreeze({ a: { b: [1, { c: 2 }] }, keep: { x: 1 } });
    const patch = deepFreeze({ a: { d: { e: [3] } }, n: [{ m: 1 }] });
    const out = applyMergePatch(target, patch) as { a: { b: unknown[]; d: { e: number[] } }; keep: object; n: object[] };
    expect(out).toEqual({ a: { b: [1, { c: 2 }], d: { e: [3] } }, keep: { x: 1 }, n: [{ m: 1 }] });
    expect(out.keep).not.toBe(target.keep);
    expect(out.a.b).not.toBe(target.a.b);
    expect(out.a.d.e).not.toBe(patch.a.d.e);
    expect(out.n[0]).not.toBe(patch.n[0]);
  });

  test('patch - target member order is kept and new members follow', () => {
    expect(Object.keys(applyMergePatch({ z: 1, a: 2, m: 3 }, { n: 0, a: 5 }) as object)).toEqual(['z', 'a', 'm', 'n']);
  });

  test('patch - __proto__ is an ordinary member', () => {
    const patch = JSON.parse('{"__proto__": {"polluted": true}}');
    const out = applyMergePatch({}, patch) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.prototype.hasOwnProperty.call(out, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(JSON.stringify(out)).toBe('{"__proto__":{"polluted":true}}');
  });
});

describe('patch - JSON patch (RFC 6902)', () => {
  // RFC 6902 Appendix A, in order.
  test('patch - A.1 adding an object member', () => {
    expect(applyJsonPatch({ foo: 'bar' }, [{ op: 'add', path: '/baz', value: 'qux' }])).toEqual({ baz: 'qux', foo: 'bar' });
  });

  test('patch - A.2 adding an array element', () => {
    expect(applyJsonPatch({ foo: ['bar', 'baz'] }, [{ op: 'add', path: '/foo/1', value: 'qux' }])).toEqual({ foo: ['bar', 'qux', 'baz'] });
  });

  test('patch - A.3 removing an object member', () => {
    expect(applyJsonPatch({ baz: 'qux', foo: 'bar' }, [{ op: 'remove', path: '/baz' }])).toEqual({ foo: 'bar' });
  });

  test('patch - A.4 removing an array element', () => {
    expect(applyJsonPatch({ foo: ['bar', 'qux', 'baz'] }, [{ op: 'remove', path: '/foo/1' }])).toEqual({ foo: ['bar', 'baz'] });
  });

  test('patch - A.5 replacing a value', () => {
    expect(applyJsonPatch({ baz: 'qux', foo: 'bar' }, [{ op: 'replace', path: '/baz', value: 'boo' }])).toEqual({ baz: 'boo', foo: 'bar' });
  });

  test('patch - A.6 moving a value', () => {
    const doc = { foo: { bar: 'baz', waldo: 'fred' }, qux: { corge: 'grault' } };
    expect(applyJsonPatch(doc, [{ op: 'move', from: '/foo/waldo', path: '/qux/thud' }])).toEqual({
      foo: { bar: 'baz' },
      qux: { corge: 'grault', thud: 'fred' },
    });
  });

  test('patch - A.7 moving an array element', () => {
    expect(applyJsonPatch({ foo: ['all', 'grass', 'cows', 'eat'] }, [{ op: 'move', from: '/foo/1', path: '/foo/3' }])).toEqual({
      foo: ['all', 'cows', 'eat', 'grass'],
    });
  });

  test('patch - A.8 testing a value: success', () => {
    const doc = { baz: 'qux', foo: ['a', 2, 'c'] };
    expect(
      applyJsonPatch(doc, [
        { op: 'test', path: '/baz', value: 'qux' },
        { op: 'test', path: '/foo/1', value: 2 },
      ]),
    ).toEqual(doc);
  });

  test('patch - A.9 testing a value: error', () => {
    expect(patchError(() => applyJsonPatch({ baz: 'qux' }, [{ op: 'test', path: '/baz', value: 'bar' }]))).toBe('testing value /baz failed');
  });

  test('patch - A.10 adding a nested member object', () => {
    expect(applyJsonPatch({ foo: 'bar' }, [{ op: 'add', path: '/child', value: { grandchild: {} } }])).toEqual({
      foo: 'bar',
      child: { grandchild: {} },
    });
  });

  test('patch - A.11 ignoring unrecognized members of an operation', () => {
    expect(applyJsonPatch({ foo: 'bar' }, [{ op: 'add', path: '/baz', value: 'qux', xyz: 123 }])).toEqual({ foo: 'bar', baz: 'qux' });
  });

  test('patch - A.12 adding to a nonexistent target', () => {
    expect(patchError(() => applyJsonPatch({ foo: 'bar' }, [{ op: 'add', path: '/baz/bat', value: 'qux' }]))).toBe(
      'jsonpatch add operation does not apply: doc is missing path: "/baz/bat"',
    );
  });

  test('patch - A.14 ~ escape ordering', () => {
    const doc = { '/': 9, '~1': 10 };
    expect(applyJsonPatch(doc, [{ op: 'test', path: '/~01', value: 10 }])).toEqual(doc);
    expect(applyJsonPatch(doc, [{ op: 'test', path: '/~1', value: 9 }])).toEqual(doc);
  });

  test('patch - A.15 comparing strings and numbers', () => {
    expect(patchError(() => applyJsonPatch({ '/': 9, '~1': 10 }, [{ op: 'test', path: '/~01', value: '10' }]))).toBe('testing value /~01 failed');
  });

  test('patch - A.16 adding an array value', () => {
    expect(applyJsonPatch({ foo: ['bar'] }, [{ op: 'add', path: '/foo/-', value: ['abc', 'def'] }])).toEqual({ foo: ['bar', ['abc', 'def']] });
  });

  test('patch - add replaces an existing member and appends at the end index', () => {
    expect(applyJsonPatch({ a: 1 }, [{ op: 'add', path: '/a', value: 2 }])).toEqual({ a: 2 });
    expect(applyJsonPatch({ a: [1] }, [{ op: 'add', path: '/a/1', value: 2 }])).toEqual({ a: [1, 2] });
    expect(applyJsonPatch({ a: [1] }, [{ op: 'add', path: '/a/0', value: 0 }])).toEqual({ a: [0, 1] });
    expect(applyJsonPatch({ a: 1 }, [{ op: 'add', path: '/b', value: null }])).toEqual({ a: 1, b: null });
  });

  test('patch - replace works on array elements and keeps the length', () => {
    expect(applyJsonPatch({ a: [1, 2, 3] }, [{ op: 'replace', path: '/a/1', value: { x: 1 } }])).toEqual({ a: [1, { x: 1 }, 3] });
  });

  test('patch - pointers through scalars find nothing', () => {
    expect(patchError(() => applyJsonPatch({ s: 'str' }, [{ op: 'test', path: '/s/length', value: 3 }]))).toBe('testing value /s/length failed');
  });

  test('patch - the empty pointer is the whole document', () => {
    expect(applyJsonPatch({ a: 1 }, [{ op: 'add', path: '', value: [1] }])).toEqual([1]);
    expect(applyJsonPatch({ a: 1 }, [{ op: 'replace', path: '', value: 'x' }])).toEqual('x');
    expect(applyJsonPatch({ a: 1 }, [{ op: 'test', path: '', value: { a: 1 } }])).toEqual({ a: 1 });
    expect(patchError(() => applyJsonPatch({ a: 1 }, [{ op: 'remove', path: '' }]))).toBe(
      'jsonpatch remove operation does not apply: cannot remove the whole document',
    );
  });

  test('patch - an empty key is an ordinary member', () => {
    expect(applyJsonPatch({}, [{ op: 'add', path: '/', value: 1 }])).toEqual({ '': 1 });
    expect(applyJsonPatch({ a: { '': 2 } }, [{ op: 'replace', path: '/a/', value: 3 }])).toEqual({ a: { '': 3 } });
  });

  test('patch - copy duplicates a subtree without aliasing', () => {
    const out = applyJsonPatch({ a: { b: [1] } }, [{ op: 'copy', from: '/a', path: '/c' }]) as { a: { b: number[] }; c: { b: number[] } };
    expect(out).toEqual({ a: { b: [1] }, c: { b: [1] } });
    expect(out.c).not.toBe(out.a);
    expect(out.c.b).not.toBe(out.a.b);
    expect(applyJsonPatch({ a: [1, 2] }, [{ op: 'copy', from: '/a/0', path: '/a/-' }])).toEqual({ a: [1, 2, 1] });
  });

  test('patch - move to the same place is a no-op, into its own child is an error', () => {
    expect(applyJsonPatch({ a: 1 }, [{ op: 'move', from: '/a', path: '/a' }])).toEqual({ a: 1 });
    expect(patchError(() => applyJsonPatch({ a: { b: 1 } }, [{ op: 'move', from: '/a', path: '/a/b/c' }]))).toBe(
      'jsonpatch move operation does not apply: "from" "/a" is a proper prefix of "path" "/a/b/c"',
    );
    expect(patchError(() => applyJsonPatch({}, [{ op: 'move', from: '/a', path: '/a' }]))).toBe(
      'jsonpatch move operation does not apply: doc is missing from path: "/a"',
    );
  });

  test('patch - test compares JSON values structurally', () => {
    const doc = { o: { x: 1, y: [1, { z: null }] }, n: 1 };
    expect(applyJsonPatch(doc, [{ op: 'test', path: '/o', value: { y: [1, { z: null }], x: 1 } }])).toEqual(doc);
    expect(applyJsonPatch(doc, [{ op: 'test', path: '/n', value: 1.0 }])).toEqual(doc);
    expect(patchError(() => applyJsonPatch(doc, [{ op: 'test', path: '/o', value: { x: 1 } }]))).toBe('testing value /o failed');
    expect(patchError(() => applyJsonPatch(doc, [{ op: 'test', path: '/o/y', value: [1] }]))).toBe('testing value /o/y failed');
    expect(patchError(() => applyJsonPatch(doc, [{ op: 'test', path: '/missing', value: null }]))).toBe('testing value /missing failed');
    expect(patchError(() => applyJsonPatch({ a: [1] }, [{ op: 'test', path: '/a', value: { 0: 1 } }]))).toBe('testing value /a failed');
  });

  test('patch - operations that do not apply say which path failed', () => {
    const doc = { spec: { list: [1, 2] }, s: 'str' };
    expect(patchError(() => applyJsonPatch(doc, [{ op: 'replace', path: '/spec/foo', value: 1 }]))).toBe(
      'jsonpatch replace operation does not apply: doc is missing path: "/spec/foo"',
    );
    expect(patchError(() => applyJsonPatch(doc, [{ op: 'replace', path: '/spec/list/2', value: 1 }]))).toBe(
      'jsonpatch replace operation does not apply: doc is missing path: "/spec/list/2"',
    );
    expect(patchError(() => applyJsonPatch(doc, [{ op: 'replace', path: '/spec/list/-', value: 1 }]))).toBe(
      'jsonpatch replace operation does not apply: doc is missing path: "/spec/list/-"',
    );
    expect(patchError(() => applyJsonPatch(doc, [{ op: 'remove', path: '/spec/nope' }]))).toBe(
      'jsonpatch remove operation does not apply: doc is missing path: "/spec/nope"',
    );
    expect(patchError(() => applyJsonPatch(doc, [{ op: 'remove', path: '/spec/list/01' }]))).toBe(
      'jsonpatch remove operation does not apply: doc is missing path: "/spec/list/01"',
    );
    expect(patchError(() => applyJsonPatch(doc, [{ op: 'add', path: '/spec/list/3', value: 1 }]))).toBe(
      'jsonpatch add operation does not apply: index 3 is out of bounds for array of length 2 at path: "/spec/list/3"',
    );
    expect(patchError(() => applyJsonPatch(doc, [{ op: 'add', path: '/spec/list/x', value: 1 }]))).toBe(
      'jsonpatch add operation does not apply: "x" is not an array index at path: "/spec/list/x"',
    );
    expect(patchError(() => applyJsonPatch(doc, [{ op: 'add', path: '/spec/list/-1', value: 1 }]))).toMatch(/is not an array index/);
    expect(patchError(() => applyJsonPatch(doc, [{ op: 'add', path: '/s/x', value: 1 }]))).toBe(
      'jsonpatch add operation does not apply: doc is missing path: "/s/x"',
    );
    expect(patchError(() => applyJsonPatch(doc, [{ op: 'copy', from: '/nope', path: '/x' }]))).toBe(
      'jsonpatch copy operation does not apply: doc is missing from path: "/nope"',
    );
    expect(patchError(() => applyJsonPatch(doc, [{ op: 'move', from: '/nope', path: '/x' }]))).toBe(
      'jsonpatch move operation does not apply: doc is missing from path: "/nope"',
    );
    expect(patchError(() => applyJsonPatch({}, [{ op: 'remove', path: '/constructor' }]))).toBe(
      'jsonpatch remove operation does not apply: doc is missing path: "/constructor"',
    );
  });

  test('patch - malformed patches are rejected', () => {
    expect(patchError(() => applyJsonPatch({}, { op: 'add' }))).toBe('json patch must be an array of operations');
    expect(patchError(() => applyJsonPatch({}, ['x']))).toBe('operation 0 must be an object');
    expect(patchError(() => applyJsonPatch({}, [{ path: '/a' }]))).toBe('operation 0 is missing a string "op"');
    expect(patchError(() => applyJsonPatch({}, [{ op: 'merge', path: '/a' }]))).toBe(
      'operation 0 has unknown op "merge"; expected one of add, remove, replace, move, copy, test',
    );
    expect(patchError(() => applyJsonPatch({}, [{ op: 'remove' }]))).toBe('operation 0 (remove) is missing a string "path"');
    expect(patchError(() => applyJsonPatch({}, [{ op: 'add', path: '/a' }]))).toBe('operation 0 (add) is missing "value"');
    expect(patchError(() => applyJsonPatch({}, [{ op: 'test', path: '/a' }]))).toBe('operation 0 (test) is missing "value"');
    expect(patchError(() => applyJsonPatch({}, [{ op: 'copy', path: '/a' }]))).toBe('operation 0 (copy) is missing a string "from"');
    expect(patchError(() => applyJsonPatch({}, [{ op: 'add', path: 'a', value: 1 }]))).toBe(
      `operation 0: JSON pointer "a" must be empty or start with '/'`,
    );
    expect(patchError(() => applyJsonPatch({}, [{ op: 'add', path: '/a~2', value: 1 }]))).toBe(
      `operation 0: JSON pointer "/a~2" has an invalid '~' escape`,
    );
    expect(patchError(() => applyJsonPatch({}, [{ op: 'add', path: '/a', value: 1 }, { op: 'move', from: 'x', path: '/b' }]))).toMatch(
      /^operation 1: JSON pointer "x"/,
    );
  });

  test('patch - an empty patch returns an equal copy', () => {
    const doc = { a: [1] };
    const out = applyJsonPatch(doc, []);
    expect(out).toEqual(doc);
    expect(out).not.toBe(doc);
  });

  test('patch - a failing operation leaves the input untouched', () => {
    const doc = deepFreeze({ a: 1, b: [1, 2] });
    expect(() =>
      applyJsonPatch(doc, [
        { op: 'remove', path: '/a' },
        { op: 'add', path: '/b/0', value: 0 },
        { op: 'test', path: '/a', value: 1 },
      ]),
    ).toThrow(PatchError);
    expect(doc).toEqual({ a: 1, b: [1, 2] });
  });

  test('patch - JSON patch never mutates or aliases its inputs', () => {
    const doc = deepFreeze({ a: { b: 1 }, list: [{ x: 1 }] });
    const ops = deepFreeze([
      { op: 'add', path: '/v', value: { deep: [1] } },
      { op: 'replace', path: '/a/b', value: 2 },
      { op: 'remove', path: '/list/0' },
    ]);
    const out = applyJsonPatch(doc, ops) as { v: { deep: number[] }; a: { b: number }; list: unknown[] };
    expect(out).toEqual({ a: { b: 2 }, list: [], v: { deep: [1] } });
    expect(out.v).not.toBe(ops[0].value);
    out.v.deep.push(2);
    expect(ops[0].value).toEqual({ deep: [1] });
  });

  test('patch - __proto__ paths touch an ordinary member', () => {
    const out = applyJsonPatch({}, [{ op: 'add', path: '/__proto__', value: { polluted: true } }]) as object;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(JSON.stringify(out)).toBe('{"__proto__":{"polluted":true}}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('patch - parsing patch documents', () => {
  test('patch - parses JSON from strings and bytes', () => {
    expect(parsePatchDocument('{"a":1}')).toEqual({ a: 1 });
    expect(parsePatchDocument(new TextEncoder().encode('[{"op":"remove","path":"/a"}]'))).toEqual([{ op: 'remove', path: '/a' }]);
    expect(parsePatchDocument(Buffer.from('null'))).toBeNull();
    expect(parsePatchDocument(' "é" ')).toBe('é');
  });

  test('patch - rejects empty, invalid UTF-8 and invalid JSON bodies', () => {
    expect(patchError(() => parsePatchDocument(''))).toBe('patch document is empty');
    expect(patchError(() => parsePatchDocument(new Uint8Array()))).toBe('patch document is empty');
    expect(patchError(() => parsePatchDocument(new Uint8Array([0x7b, 0xff, 0x7d])))).toBe('patch document is not valid UTF-8');
    expect(patchError(() => parsePatchDocument('{"a":'))).toMatch(/^patch document is not valid JSON: /);
    expect(patchError(() => parsePatchDocument("{'a':1}"))).toMatch(/^patch document is not valid JSON: /);
  });
});
