import { FieldSelector, escapeFieldValue, fieldValue, parseFieldSelector } from '../../services/lib/fields';
import { SelectorParseError } from '../../services/lib/labels';

function parseError(s: string): string {
  try {
    parseFieldSelector(s);
  } catch (err) {
    expect(err).toBeInstanceOf(SelectorParseError);
    return (err as Error).message;
  }
  throw new Error(`expected ${JSON.stringify(s)} to fail`);
}

const pod = {
  metadata: { name: 'web-1', namespace: 'default' },
  spec: { nodeName: 'node-a', hostNetwork: false, priority: 10 },
  status: { phase: 'Running', podIP: null },
};
const get = (f: string) => fieldValue(pod, f);

describe('fields - parsing', () => {
  test('fields - the three operators parse, == is stored as =', () => {
    expect(parseFieldSelector('a=b').requirements()).toEqual([{ field: 'a', operator: '=', value: 'b' }]);
    expect(parseFieldSelector('a==b').requirements()).toEqual([{ field: 'a', operator: '=', value: 'b' }]);
    expect(parseFieldSelector('a!=b').requirements()).toEqual([{ field: 'a', operator: '!=', value: 'b' }]);
    expect(parseFieldSelector('a==b').toString()).toBe('a=b');
  });

  test('fields - the empty string and empty terms select everything', () => {
    for (const s of ['', ',', ',,']) {
      const sel = parseFieldSelector(s);
      expect(sel.isEmpty()).toBe(true);
      expect(sel).toBe(FieldSelector.everything());
      expect(sel.matches(() => 'x')).toBe(true);
    }
    expect(parseFieldSelector('a=b,,c=d').requirements()).toHaveLength(2);
  });

  test('fields - an empty value is allowed', () => {
    expect(parseFieldSelector('spec.nodeName=').requirements()).toEqual([{ field: 'spec.nodeName', operator: '=', value: '' }]);
    expect(parseFieldSelector('spec.nodeName!=').requirements()[0].operator).toBe('!=');
  });

  test('fields - a term that is only an operator is dropped, as Kubernetes does', () => {
    expect(parseFieldSelector('=').isEmpty()).toBe(true);
    expect(parseFieldSelector('==,a=b').toString()).toBe('a=b');
    expect(parseFieldSelector('=x').requirements()).toEqual([{ field: '', operator: '=', value: 'x' }]);
  });

  test('fields - terms are sorted as written', () => {
    expect(parseFieldSelector('status.phase=Running,metadata.name=web').toString()).toBe('metadata.name=web,status.phase=Running');
    expect(parseFieldSelector('b!=1,a=2').fields()).toEqual(['a', 'b']);
  });

  test('fields - escaped commas, equals signs and backslashes are data', () => {
    const sel = parseFieldSelector('a=x\\,y,b=p\\=q,c=back\\\\slash');
    expect(sel.requirements()).toEqual([
      { field: 'a', operator: '=', value: 'x,y' },
      { field: 'b', operator: '=', value: 'p=q' },
      { field: 'c', operator: '=', value: 'back\\slash' },
    ]);
    expect(sel.toString()).toBe('a=x\\,y,b=p\\=q,c=back\\\\slash');
    expect(parseFieldSelector(sel.toString()).requirements()).toEqual(sel.requirements());
  });

  test('fields - the first operator splits the term; the field has no escaping', () => {
    expect(parseFieldSelector('a!=b').requirements()[0]).toEqual({ field: 'a', operator: '!=', value: 'b' });
    expect(parseFieldSelector('a=!b').requirements()[0]).toEqual({ field: 'a', operator: '=', value: '!b' });
    expect(parseError('a===b')).toBe("invalid field selector: unescaped character in value: '='");
  });

  test('fields - whitespace is not trimmed', () => {
    expect(parseFieldSelector(' a = b ').requirements()).toEqual([{ field: ' a ', operator: '=', value: ' b ' }]);
  });

  test('fields - a term without an operator is rejected', () => {
    expect(parseError('a')).toBe("invalid selector: 'a'; can't understand 'a'");
    expect(parseError('a=b,c')).toBe("invalid selector: 'a=b,c'; can't understand 'c'");
    expect(parseError('a<b')).toBe("invalid selector: 'a<b'; can't understand 'a<b'");
  });

  test('fields - bad escapes and unescaped special characters are rejected', () => {
    expect(parseError('a=b\\c')).toBe('invalid field selector: invalid escape sequence: \\c');
    expect(parseError('a=b\\')).toBe('invalid field selector: invalid escape sequence: \\');
    expect(parseError('a=b=c')).toBe("invalid field selector: unescaped character in value: '='");
  });

  test('fields - a non-string input is rejected', () => {
    expect(() => parseFieldSelector(42 as unknown as string)).toThrow(SelectorParseError);
  });

  test('fields - escapeFieldValue escapes exactly the three special characters', () => {
    expect(escapeFieldValue('a,b=c\\d')).toBe('a\\,b\\=c\\\\d');
    expect(escapeFieldValue('plain-value.1')).toBe('plain-value.1');
  });
});

describe('fields - matching', () => {
  test('fields - equality and inequality against an accessor', () => {
    expect(parseFieldSelector('metadata.name=web-1').matches(get)).toBe(true);
    expect(parseFieldSelector('metadata.name=web-2').matches(get)).toBe(false);
    expect(parseFieldSelector('status.phase!=Pending').matches(get)).toBe(true);
    expect(parseFieldSelector('status.phase!=Running').matches(get)).toBe(false);
    expect(parseFieldSelector('metadata.name=web-1,spec.nodeName=node-a').matches(get)).toBe(true);
    expect(parseFieldSelector('metadata.name=web-1,spec.nodeName=node-b').matches(get)).toBe(false);
  });

  test('fields - a missing field compares as the empty string', () => {
    const unscheduled = { spec: {} };
    expect(parseFieldSelector('spec.nodeName=').matches((f) => fieldValue(unscheduled, f))).toBe(true);
    expect(parseFieldSelector('spec.nodeName!=').matches((f) => fieldValue(unscheduled, f))).toBe(false);
    expect(parseFieldSelector('spec.nodeName=').matches(get)).toBe(false);
    expect(parseFieldSelector('x=').matches(() => undefined)).toBe(true);
  });

  test('fields - the accessor is asked only for referenced fields', () => {
    const asked: string[] = [];
    parseFieldSelector('b=1,a=2').matches((f) => {
      asked.push(f);
      return '2';
    });
    expect(asked).toEqual(['a', 'b']);
  });

  test('fields - requiresExactMatch reports an equality requirement only', () => {
    const sel = parseFieldSelector('spec.nodeName=node-a,status.phase!=Failed');
    expect(sel.requiresExactMatch('spec.nodeName')).toBe('node-a');
    expect(sel.requiresExactMatch('status.phase')).toBeUndefined();
    expect(sel.requiresExactMatch('metadata.name')).toBeUndefined();
  });

  test('fields - fields() lists each referenced field once', () => {
    expect(parseFieldSelector('a=1,a!=2,b=3').fields()).toEqual(['a', 'b']);
    expect(FieldSelector.everything().fields()).toEqual([]);
  });

  test('fields - fromRequirements keeps order and freezes', () => {
    const sel = FieldSelector.fromRequirements([
      { field: 'z', operator: '=', value: 'a,b' },
      { field: 'a', operator: '!=', value: '' },
    ]);
    expect(sel.toString()).toBe('z=a\\,b,a!=');
    expect(() => (sel.requirements() as FieldRequirementArray).push({ field: 'x', operator: '=', value: '' })).toThrow();
    expect(FieldSelector.fromRequirements([])).toBe(FieldSelector.everything());
  });
});

type FieldRequirementArray = Array<{ field: string; operator: '=' | '!='; value: string }>;

describe('fields - fieldValue', () => {
  test('fields - reads strings, numbers and booleans along a dotted path', () => {
    expect(fieldValue(pod, 'metadata.name')).toBe('web-1');
    expect(fieldValue(pod, 'spec.nodeName')).toBe('node-a');
    expect(fieldValue(pod, 'spec.hostNetwork')).toBe('false');
    expect(fieldValue(pod, 'spec.priority')).toBe('10');
    expect(fieldValue({ involvedObject: { kind: 'Pod' } }, 'involvedObject.kind')).toBe('Pod');
    expect(fieldValue({ n: 5n }, 'n')).toBe('5');
  });

  test('fields - missing and null read as the empty string', () => {
    expect(fieldValue(pod, 'status.podIP')).toBe('');
    expect(fieldValue(pod, 'status.hostIP')).toBe('');
    expect(fieldValue(pod, 'nope.deeper.still')).toBe('');
    expect(fieldValue(pod, 'metadata.name.length')).toBe('');
    expect(fieldValue(undefined, 'metadata.name')).toBe('');
    expect(fieldValue(null, 'a')).toBe('');
    expect(fieldValue({ a: undefined }, 'a')).toBe('');
  });

  test('fields - objects and arrays are not selectable', () => {
    expect(fieldValue(pod, 'metadata')).toBeUndefined();
    expect(fieldValue({ a: [1] }, 'a')).toBeUndefined();
    expect(fieldValue({ a: [{ b: 'x' }] }, 'a.0.b')).toBe('');
  });

  test('fields - inherited properties are not fields', () => {
    expect(fieldValue({}, 'constructor')).toBe('');
    expect(fieldValue({ metadata: {} }, 'metadata.toString')).toBe('');
    expect(fieldValue({ a: 'x' }, 'a.length')).toBe('');
  });
});
